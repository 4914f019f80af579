// Background exports (POST/GET /exports) and downloads that the API renders in the background (a
// bulletin's PDF answers 409 while it is being made): progress, labels, when to keep polling.
import { periodLabel } from './kpi'

export type ExportStatus = 'queued' | 'running' | 'done' | 'failed' | 'expired'

export interface ExportLike {
  status: string
  progress?: number | null
  rows_done?: number | null
  rows_total?: number | null
  expires_at?: string | null
  download_url?: string | null
}

type TagType = 'success' | 'warning' | 'danger' | 'info' | 'primary'
const LABELS: Record<string, [string, TagType]> = {
  queued: ['排队中', 'info'], running: ['导出中', 'primary'], done: ['已完成', 'success'],
  failed: ['失败', 'danger'], expired: ['已过期', 'info'],
}

export function exportStatus(status: string): { text: string; type: TagType } {
  const found = LABELS[status]
  return found ? { text: found[0], type: found[1] } : { text: status, type: 'info' }
}

const KINDS: Record<string, string> = {
  volunteers: '志愿者名录', activities: '活动列表', attendance: '签到表', service_records: '服务记录',
  kpi_table: '指标统计表', kpis: '指标统计表',
}

export function exportKindLabel(kind: string): string {
  return KINDS[kind] ?? kind
}

/** Whether an export is still being made (the page polls while any is). */
export function isActive(job: Pick<ExportLike, 'status'>): boolean {
  return job.status === 'queued' || job.status === 'running'
}

export function anyActive(jobs: readonly Pick<ExportLike, 'status'>[]): boolean {
  return jobs.some(isActive)
}

/** The progress bar's percentage: from `progress` (0–1) or rows done of rows total; 100 when done. */
export function progressPercent(job: ExportLike): number {
  if (job.status === 'done') return 100
  if (job.status === 'queued') return 0
  let share: number | null = null
  if (typeof job.progress === 'number' && Number.isFinite(job.progress)) share = job.progress > 1 ? job.progress / 100 : job.progress
  else if (job.rows_total && job.rows_done !== null && job.rows_done !== undefined) share = job.rows_done / job.rows_total
  if (share === null) return 0
  // A running export never shows 100 % before it is done.
  return Math.max(0, Math.min(99, Math.floor(share * 100)))
}

/** Whether the download link still works: done, a link, and not past its expiry. */
export function linkUsable(job: ExportLike, now: Date = new Date()): boolean {
  if (job.status !== 'done' || !job.download_url) return false
  if (!job.expires_at) return true
  const expires = Date.parse(job.expires_at)
  return Number.isNaN(expires) || expires > now.getTime()
}

/** "23 分钟后失效", "1 小时 5 分钟后失效", "已失效". */
export function expiryText(expiresAt: string | null | undefined, now: Date = new Date()): string {
  if (!expiresAt) return ''
  const ms = Date.parse(expiresAt) - now.getTime()
  if (Number.isNaN(ms)) return ''
  if (ms <= 0) return '链接已失效'
  const minutes = Math.ceil(ms / 60000)
  if (minutes < 60) return `${minutes} 分钟后失效`
  const hours = Math.floor(minutes / 60)
  const rest = minutes % 60
  if (hours < 48) return rest ? `${hours} 小时 ${rest} 分钟后失效` : `${hours} 小时后失效`
  return `${Math.floor(hours / 24)} 天后失效`
}

// --- a download the API renders in the background ---------------------------------------------------

export type DownloadState = 'idle' | 'generating' | 'done' | 'failed'

export interface PendingDownloadOptions {
  /** One attempt: resolves with the HTTP status and, on 200, the file. */
  attempt: () => Promise<{ status: number; file?: Blob; filename?: string | null; message?: string }>
  onState?: (state: DownloadState, message?: string) => void
  intervalMs?: number
  /** Give up after this many 409s in a row (the page says so and the user may try again). */
  maxTries?: number
  sleep?: (ms: number) => Promise<void>
}

/**
 * Fetch a file that may still be rendering: 409 means "生成中", try again after `intervalMs`; 200 is the
 * file; any other status is a failure with the API's message. Resolves with the file or null.
 */
export async function fetchWhenReady(options: PendingDownloadOptions): Promise<{ file: Blob; filename: string | null } | null> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const maxTries = options.maxTries ?? 60
  for (let i = 0; i < maxTries; i += 1) {
    let answer: Awaited<ReturnType<PendingDownloadOptions['attempt']>>
    try {
      answer = await options.attempt()
    } catch {
      options.onState?.('failed', '网络连接失败，请稍后再试')
      return null
    }
    if (answer.status === 200 && answer.file) {
      options.onState?.('done')
      return { file: answer.file, filename: answer.filename ?? null }
    }
    if (answer.status !== 409) {
      options.onState?.('failed', answer.message || '下载失败，请稍后再试')
      return null
    }
    options.onState?.('generating')
    await sleep(options.intervalMs ?? 2000)
  }
  options.onState?.('failed', '文件还在生成，请稍后再试')
  return null
}

/** The file name of a Content-Disposition header (RFC 5987 filename* first). */
export function filenameOf(disposition: string | null | undefined): string | null {
  if (!disposition) return null
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(disposition)
  if (star) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ''))
    } catch {
      /* fall through to the plain name */
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/.exec(disposition)
  return plain ? plain[1].trim() : null
}

// --- the exports page and the export buttons ----------------------------------------------------------

/** What an export covers: one region (volunteers), organisation (activities, records) or activity (attendance). */
export type ExportScope = { region_id: number } | { organization_id: number } | { activity_id: number }

export interface ExportRow extends ExportLike {
  id: number
  kind: string
  scope: Record<string, number>
  filters: Record<string, unknown>
  reveal_personal: boolean
  row_count?: number | null
  error?: string | null
  created_at: string
}

/** The file of a finished export is deleted at `expires_at`: past it, the export shows as 已过期. */
export function fileGone(job: Pick<ExportLike, 'status' | 'expires_at'>, now: Date = new Date()): boolean {
  if (job.status !== 'done' || !job.expires_at) return false
  const expires = Date.parse(job.expires_at)
  return !Number.isNaN(expires) && expires <= now.getTime()
}

/** The state the page shows: the API's, or 已过期 for a done export whose file is gone. */
export function shownStatus(job: Pick<ExportLike, 'status' | 'expires_at'>, now: Date = new Date()): string {
  return fileGone(job, now) ? 'expired' : job.status
}

/**
 * What 下载 does. The list carries no links (they expire within minutes): a click asks
 * `GET /exports/{id}` for a fresh one (`fetch`); a file past its keeping time is gone (`expired`).
 */
export function downloadPlan(job: Pick<ExportLike, 'status' | 'expires_at'>, now: Date = new Date()): 'fetch' | 'expired' | 'none' {
  if (job.status !== 'done') return 'none'
  return fileGone(job, now) ? 'expired' : 'fetch'
}

export const FILE_GONE_TEXT = '文件已过保留期限并已删除，请重新导出'

/** The scope's kind and id (`{region_id: 12}` → `['region', 12]`), or null for an unknown shape. */
export function scopeOf(scope: Record<string, number> | null | undefined): [type: 'region' | 'organization' | 'activity', id: number] | null {
  if (!scope) return null
  for (const type of ['region', 'organization', 'activity'] as const) {
    const id = scope[`${type}_id`]
    if (typeof id === 'number') return [type, id]
  }
  return null
}

const SCOPE_WORDS = { region: '地区', organization: '组织', activity: '活动' } as const

/** "解放碑街道", "组织：渝中区志愿者协会", "活动：社区义诊"; without a known name "地区 #12". */
export function scopeText(scope: Record<string, number> | null | undefined, names: Readonly<Record<string, string>> = {}): string {
  const found = scopeOf(scope)
  if (!found) return '—'
  const [type, id] = found
  const name = names[`${type}:${id}`]
  if (!name) return `${SCOPE_WORDS[type]} #${id}`
  return type === 'region' ? name : `${SCOPE_WORDS[type]}：${name}`
}

const VOLUNTEER_STATES: Record<string, string> = { pending: '待审核', approved: '已通过', rejected: '未通过', suspended: '已暂停' }
const ACTIVITY_STATES: Record<string, string> = {
  draft: '草稿', published: '已发布', ongoing: '进行中', finished: '已结束', evaluated: '已评价', cancelled: '已取消',
}
const CATEGORIES: Record<string, string> = {}

/** Let the page name the categories (labels.ts has them) without this module importing the API's types. */
export function setCategoryNames(names: Readonly<Record<string, string>>): void {
  Object.assign(CATEGORIES, names)
}

function dateOf(iso: unknown): string | null {
  if (typeof iso !== 'string') return null
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return null
  // The date in Shanghai (UTC+8, no daylight saving).
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 10)
}

/** The filters an export was made with, in words: "状态 已通过 · 关键词「张」 · 特长 急救"; "全部" without any. */
export function filtersText(kind: string, filters: Readonly<Record<string, unknown>> | null | undefined): string {
  const f = filters ?? {}
  const parts: string[] = []
  if (typeof f.status === 'string' && f.status) {
    const states = kind === 'volunteers' ? VOLUNTEER_STATES : ACTIVITY_STATES
    parts.push(`状态 ${states[f.status] ?? f.status}`)
  }
  if (typeof f.period === 'string' && f.period) parts.push(periodLabel(f.period))
  if (typeof f.q === 'string' && f.q) parts.push(`关键词「${f.q}」`)
  if (typeof f.category === 'string' && f.category) parts.push(`类别 ${CATEGORIES[f.category] ?? f.category}`)
  if (typeof f.skill === 'string' && f.skill) parts.push(`特长 ${f.skill}`)
  if (f.team_id !== undefined && f.team_id !== null) parts.push('指定队伍')
  const from = dateOf(f.starts_from)
  const until = dateOf(f.starts_until)
  if (from && until) parts.push(`${from} 至 ${until}`)
  else if (from) parts.push(`${from} 起`)
  else if (until) parts.push(`${until} 前`)
  return parts.length ? parts.join(' · ') : '全部'
}

/** "1,234 行", "已写 200 / 1,000 行", "—". */
export function rowsText(job: Pick<ExportRow, 'status' | 'rows_done' | 'rows_total' | 'row_count'>): string {
  const n = (value: number) => value.toLocaleString('en-US')
  if (job.status === 'done' && typeof job.row_count === 'number') return `${n(job.row_count)} 行`
  if (job.status === 'running' && typeof job.rows_total === 'number') return `已写 ${n(job.rows_done ?? 0)} / ${n(job.rows_total)} 行`
  if (typeof job.rows_total === 'number') return `${n(job.rows_total)} 行`
  return '—'
}

/** The list with one export replaced by its newer state (or put first when new). */
export function withExport<T extends { id: number }>(list: readonly T[], job: T): T[] {
  const at = list.findIndex((item) => item.id === job.id)
  if (at < 0) return [job, ...list]
  const next = list.slice()
  next[at] = job
  return next
}

export interface DirectoryQuery {
  q?: string
  status?: string
  category?: string
  skill?: string
  team_id?: number | null
  region_id?: number | null
  sort?: string
}

/**
 * The volunteer directory's query as an export request: the region is the scope (the list's own region
 * filter, else the admin's region), the other filters go along; sorting does not matter to a file.
 * Null when there is no region to scope it to.
 */
export function volunteerExport(query: DirectoryQuery, fallbackRegionId: number | null): { scope: { region_id: number }; filters: Omit<DirectoryQuery, 'region_id' | 'sort'> } | null {
  const regionId = query.region_id ?? fallbackRegionId
  if (regionId === null || regionId === undefined) return null
  const filters: Omit<DirectoryQuery, 'region_id' | 'sort'> = {}
  if (query.q) filters.q = query.q
  if (query.status) filters.status = query.status
  if (query.category) filters.category = query.category
  if (query.skill) filters.skill = query.skill
  if (query.team_id !== null && query.team_id !== undefined) filters.team_id = query.team_id
  return { scope: { region_id: regionId }, filters }
}
