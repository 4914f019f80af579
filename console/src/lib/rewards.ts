// 积分兑换: an organisation's rewards (GET/POST /organizations/{id}/rewards, PATCH /rewards/{id},
// POST /rewards/{id}/withdraw) and the station's pick-up scan (POST /stations/{id}/pickups). The API
// decides everything; this turns its values into what the page shows and the form into a body.

import { inShanghai, shanghaiToIso } from './time'

type TagType = 'primary' | 'success' | 'warning' | 'info' | 'danger'

export type RewardKind = 'service' | 'goods'
export type Publisher = 'station' | 'sponsor'

export const KIND_OPTIONS: readonly { value: RewardKind; label: string }[] = [
  { value: 'goods', label: '物质奖励' },
  { value: 'service', label: '服务' },
]

export function kindText(kind: string): string {
  return KIND_OPTIONS.find((o) => o.value === kind)?.label ?? kind
}

export interface RewardLike {
  status: string
  stock: number
  valid_from: string
  valid_until: string
}

/** 已下架 / 已售罄 / 未开始 / 已结束 / 兑换中, as of `now`. */
export function rewardState(reward: RewardLike, now: Date = new Date()): { text: string; type: TagType } {
  if (reward.status === 'withdrawn') return { text: '已下架', type: 'info' }
  if (now.getTime() >= Date.parse(reward.valid_until)) return { text: '已结束', type: 'info' }
  if (now.getTime() < Date.parse(reward.valid_from)) return { text: '未开始', type: 'warning' }
  if (reward.stock <= 0) return { text: '已售罄', type: 'danger' }
  return { text: '兑换中', type: 'success' }
}

export interface RewardForm {
  kind: RewardKind
  publisher: Publisher
  sponsor_name: string
  title: string
  description: string
  points_price: number | null
  stock: number | null
  limit_per_person: number | null
  /** Beijing wall-clock times as the date pickers give them, "2026-12-01 09:00". */
  valid_from: string
  valid_until: string
  pickup_place: string
  hold_minutes: number | null
}

export const FORM_FIELDS = ['kind', 'publisher', 'sponsor_name', 'title', 'description', 'points_price', 'stock',
  'limit_per_person', 'valid_from', 'valid_until', 'pickup_place', 'hold_minutes'] as const

/** A new reward: on offer from now (to the minute) for 30 days. */
export function emptyForm(now: Date = new Date()): RewardForm {
  const from = inShanghai(now)!.startOf('minute')
  return {
    kind: 'goods', publisher: 'station', sponsor_name: '', title: '', description: '', points_price: null,
    stock: null, limit_per_person: 1, valid_from: from.format('YYYY-MM-DD HH:mm'),
    valid_until: from.add(30, 'day').format('YYYY-MM-DD HH:mm'), pickup_place: '', hold_minutes: null,
  }
}

export interface RewardValues {
  kind: string
  publisher: string
  sponsor_name: string | null
  title: string
  description: string | null
  points_price: number
  stock: number
  limit_per_person: number
  valid_from: string
  valid_until: string
  pickup_place: string
  hold_minutes: number | null
}

export function formOf(reward: RewardValues): RewardForm {
  return {
    kind: reward.kind as RewardKind, publisher: reward.publisher as Publisher, sponsor_name: reward.sponsor_name ?? '',
    title: reward.title, description: reward.description ?? '', points_price: reward.points_price, stock: reward.stock,
    limit_per_person: reward.limit_per_person, valid_from: inShanghai(reward.valid_from)?.format('YYYY-MM-DD HH:mm') ?? '',
    valid_until: inShanghai(reward.valid_until)?.format('YYYY-MM-DD HH:mm') ?? '',
    pickup_place: reward.pickup_place, hold_minutes: reward.hold_minutes,
  }
}

export interface RewardBody {
  kind: RewardKind
  publisher: Publisher
  sponsor_name: string | null
  title: string
  description: string | null
  points_price: number
  stock: number
  limit_per_person: number
  valid_from: string
  valid_until: string
  pickup_place: string
  hold_minutes: number | null
}

/** The POST body; empty texts go as null, the API checks the rest (and answers field errors). */
export function bodyOf(form: RewardForm): RewardBody {
  return {
    kind: form.kind,
    publisher: form.publisher,
    sponsor_name: form.publisher === 'sponsor' ? form.sponsor_name.trim() || null : null,
    title: form.title.trim(),
    description: form.description.trim() || null,
    points_price: Number(form.points_price ?? 0),
    stock: Number(form.stock ?? 0),
    limit_per_person: Number(form.limit_per_person ?? 1),
    valid_from: shanghaiToIso(form.valid_from) ?? form.valid_from,
    valid_until: shanghaiToIso(form.valid_until) ?? form.valid_until,
    pickup_place: form.pickup_place.trim(),
    hold_minutes: form.hold_minutes ?? null,
  }
}

/** The PATCH body: only what changed (kind and publisher are fixed once published). */
export function changesOf(before: RewardValues, form: RewardForm): Partial<RewardBody> {
  const after = bodyOf(form)
  const changes: Partial<RewardBody> = {}
  const keys = ['sponsor_name', 'title', 'description', 'points_price', 'stock', 'limit_per_person', 'valid_from',
    'valid_until', 'pickup_place', 'hold_minutes'] as const
  for (const key of keys) {
    const was = before[key] ?? null
    const now = after[key] ?? null
    const same = key === 'valid_from' || key === 'valid_until'
      ? Date.parse(String(was)) === Date.parse(String(now))
      : was === now
    if (!same) (changes as Record<string, unknown>)[key] = now
  }
  if (before.publisher !== 'sponsor') delete changes.sponsor_name
  return changes
}

/** Checks before sending (the API checks the same): the errors by field. */
export function checkForm(form: RewardForm): Partial<Record<(typeof FORM_FIELDS)[number], string>> {
  const errors: Partial<Record<(typeof FORM_FIELDS)[number], string>> = {}
  if (form.title.trim().length < 2) errors.title = '请填写名称（至少 2 个字）'
  if (form.publisher === 'sponsor' && !form.sponsor_name.trim()) errors.sponsor_name = '请填写赞助方名称'
  if (!form.points_price || !Number.isInteger(form.points_price) || form.points_price < 1) errors.points_price = '请填写正整数积分'
  if (form.stock === null || !Number.isInteger(form.stock) || form.stock < 0) errors.stock = '请填写库存数量'
  if (!form.limit_per_person || !Number.isInteger(form.limit_per_person) || form.limit_per_person < 1) errors.limit_per_person = '请填写每人限兑数量'
  const from = shanghaiToIso(form.valid_from ?? '')
  const until = shanghaiToIso(form.valid_until ?? '')
  if (!from) errors.valid_from = '请选择开始时间'
  if (!until) errors.valid_until = '请选择结束时间'
  else if (from && Date.parse(until) <= Date.parse(from)) errors.valid_until = '结束时间应晚于开始时间'
  if (form.pickup_place.trim().length < 2) errors.pickup_place = '请填写领取地点'
  return errors
}

/** "30 积分". */
export function priceText(points: number): string {
  return `${points} 积分`
}

/** "每人限 1 份". */
export function limitText(limit: number): string {
  return `每人限 ${limit} 份`
}

/**
 * What the station typed or scanned: six digits are a typed code, anything else that looks like a
 * token (16–64 of [A-Za-z0-9_-]) is the QR's content; a scanner may add spaces or a trailing newline.
 * A QR that carries a URL is read by its last path segment or its `t`/`token` parameter.
 */
export function pickupInput(raw: string): { code: string } | { token: string } | null {
  let text = raw.trim()
  if (!text) return null
  const digits = text.replace(/\s+/g, '')
  if (/^\d{6}$/.test(digits)) return { code: digits }
  if (/^https?:\/\//i.test(text)) {
    try {
      const url = new URL(text)
      text = url.searchParams.get('token') ?? url.searchParams.get('t') ?? url.pathname.split('/').filter(Boolean).pop() ?? ''
    } catch {
      return null
    }
  }
  if (/^[A-Za-z0-9_-]{16,64}$/.test(text)) return { token: text }
  return null
}

export interface PickupLike {
  reward_title: string
  points: number
  volunteer_name?: string | null
}

export type PickupResult =
  | { ok: true; title: string; detail: string }
  | { ok: false; title: string; detail: string }

/** The big result line: 兑换成功 with the reward, or the API's refusal in its words. */
export function pickupSuccess(answer: PickupLike): PickupResult {
  const who = answer.volunteer_name ? `${answer.volunteer_name} · ` : ''
  return { ok: true, title: '兑换成功', detail: `${who}${answer.reward_title}（${answer.points} 积分）` }
}

export function pickupRefusal(message: string, code?: string): PickupResult {
  const titles: Record<string, string> = {
    pickup_code_invalid: '取货码无效',
    redemption_not_held: '无法兑换',
  }
  return { ok: false, title: (code && titles[code]) || '无法兑换', detail: message }
}

// --- the station's view of one reward's redemptions (GET /rewards/{id}/redemptions) ----------------

export type RedemptionStatus = 'held' | 'fulfilled' | 'voided' | 'expired'

export const REDEMPTION_STATUS_OPTIONS: readonly { value: RedemptionStatus | ''; label: string }[] = [
  { value: '', label: '全部' },
  { value: 'held', label: '待领取' },
  { value: 'fulfilled', label: '已领取' },
  { value: 'voided', label: '已取消' },
  { value: 'expired', label: '已过期' },
]

const REDEMPTION_TAGS: Record<RedemptionStatus, TagType> = {
  held: 'warning', fulfilled: 'success', voided: 'info', expired: 'info',
}

export function redemptionTag(status: string): TagType {
  return REDEMPTION_TAGS[status as RedemptionStatus] ?? 'info'
}

/** The query of the list: the status filter only when one is chosen (empty is every status). */
export function redemptionQuery(status: RedemptionStatus | '', cursor: string | null, limit = 20):
  { limit: number; status?: RedemptionStatus; cursor?: string } {
  return { limit, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) }
}

/** Who handed it over: the masked name, else the account, else nobody yet ("—"). */
export function handedOverBy(line: { fulfilled_by_account_id: number | null; fulfilled_by_name: string | null }): string {
  if (line.fulfilled_by_name) return line.fulfilled_by_name
  if (line.fulfilled_by_account_id !== null) return `账号 ${line.fulfilled_by_account_id}`
  return '—'
}

/** A person in a station list: "张*三（V0012）", or the account when there is no archive. */
export function personText(name: string | null, volunteerNumber: string | null, accountId?: number): string {
  if (!name) return accountId !== undefined ? `账号 ${accountId}` : '—'
  return volunteerNumber ? `${name}（${volunteerNumber}）` : name
}

/**
 * Whether the organisation acts as a sponsor (爱心商家): it published a sponsor's reward, or its
 * sponsor account has lines already (a later page of rewards may hold the sponsored one).
 */
export function actsAsSponsor(rewards: readonly { publisher: string }[], sponsorLines: number): boolean {
  return sponsorLines > 0 || rewards.some((r) => r.publisher === 'sponsor')
}
