// Background exports (POST/GET /exports) and downloads that the API renders in the background (a
// bulletin's PDF answers 409 while it is being made): progress, labels, when to keep polling.

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
  volunteers: '志愿者名录', activities: '活动列表', attendance: '签到记录', service_records: '服务记录',
  kpis: '指标表', kpi: '指标表',
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
