// Delivery progress of an announcement (GET /announcements/{id} and the history list): the state
// shown to the organiser and the per-channel figures.

export interface ChannelProgress {
  queued: number
  sent: number
  failed: number
  skipped: number
  ambiguous: number
}

export interface AnnouncementProgressLike {
  status: string
  recipients: number
  unreachable: number
  progress: Record<string, Partial<ChannelProgress>>
}

export type DeliveryKey = 'building' | 'sending' | 'sent'

export interface DeliveryState {
  key: DeliveryKey
  text: string
  done: boolean
  tag: 'info' | 'primary' | 'success' | 'warning'
  /** Messages handled (sent, failed, skipped, unknown) out of all written, 0–100. */
  percent: number
  failed: number
}

export const CHANNEL_LABELS: Record<string, string> = {
  miniprogram_subscribe: '小程序订阅消息',
  official_template: '公众号模板消息',
  wecom_robot: '企业微信群机器人',
  inbox: '站内信',
}

export const CHANNEL_ORDER = ['miniprogram_subscribe', 'official_template', 'wecom_robot', 'inbox']

export function channelLabel(channel: string): string {
  return CHANNEL_LABELS[channel] ?? channel
}

function full(p: Partial<ChannelProgress> | undefined): ChannelProgress {
  return { queued: p?.queued ?? 0, sent: p?.sent ?? 0, failed: p?.failed ?? 0, skipped: p?.skipped ?? 0, ambiguous: p?.ambiguous ?? 0 }
}

export function channelTotal(p: Partial<ChannelProgress>): number {
  const c = full(p)
  return c.queued + c.sent + c.failed + c.skipped + c.ambiguous
}

/** Handled (no longer waiting) messages of a channel, 0–100. */
export function channelPercent(p: Partial<ChannelProgress>): number {
  const total = channelTotal(p)
  if (total === 0) return 100
  return Math.floor(((total - full(p).queued) * 100) / total)
}

/** The channels in a fixed order (known first), each with its complete counts. */
export function channelRows(progress: Record<string, Partial<ChannelProgress>>): (ChannelProgress & { channel: string; label: string; total: number; percent: number })[] {
  const keys = Object.keys(progress).sort((a, b) => {
    const ia = CHANNEL_ORDER.indexOf(a)
    const ib = CHANNEL_ORDER.indexOf(b)
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b)
  })
  return keys.map((channel) => ({
    channel, label: channelLabel(channel), ...full(progress[channel]),
    total: channelTotal(progress[channel]), percent: channelPercent(progress[channel]),
  }))
}

/**
 * queued: the recipients are still being written (正在生成接收名单); fanned_out with messages waiting:
 * 正在发送; fanned_out and nothing waiting: 已发送 (failed or unknown ones are counted, never resent).
 */
export function deliveryState(a: AnnouncementProgressLike): DeliveryState {
  const rows = Object.values(a.progress ?? {}).map(full)
  const total = rows.reduce((n, r) => n + r.queued + r.sent + r.failed + r.skipped + r.ambiguous, 0)
  const queued = rows.reduce((n, r) => n + r.queued, 0)
  const failed = rows.reduce((n, r) => n + r.failed, 0)
  const percent = total === 0 ? (a.status === 'fanned_out' ? 100 : 0) : Math.floor(((total - queued) * 100) / total)
  if (a.status !== 'fanned_out') {
    return { key: 'building', text: '正在生成接收名单', done: false, tag: 'info', percent: Math.min(percent, 99), failed }
  }
  if (queued > 0) return { key: 'sending', text: '正在发送', done: false, tag: 'primary', percent: Math.min(percent, 99), failed }
  return { key: 'sent', text: '已发送', done: true, tag: failed > 0 ? 'warning' : 'success', percent: 100, failed }
}

export const AUDIENCE_KIND_LABELS: Record<string, string> = {
  organization: '本组织全部志愿者', team: '队伍成员', activity: '活动报名者', region: '地区志愿者',
}
