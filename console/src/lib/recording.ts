import { formatMinutes, inShanghai, shanghaiToIso } from './time'

// Time entered by people at an activity: the bulk-entry table, the sign-in sheet's preview and result,
// declarations to confirm, attendee evaluations and the activity's evidence gallery. The API checks
// everything again (caps, overlaps, who may); these only shape what is sent and say what came back.

export type Tag = 'success' | 'warning' | 'danger' | 'info'

const DECLARATION_STATUS: Record<string, [string, Tag]> = {
  pending: ['待确认', 'warning'], approved: ['已确认', 'success'], rejected: ['不予确认', 'danger'],
}

export function declarationStatus(status: string): { text: string; type: Tag } {
  const [text, type] = DECLARATION_STATUS[status] ?? [status, 'info']
  return { text, type }
}

/** A time from the API as the wall clock the date picker edits ("2026-12-04 14:00", Beijing). */
export function toWallClock(iso: string | null | undefined): string {
  return inShanghai(iso)?.format('YYYY-MM-DD HH:mm') ?? ''
}

export interface TableLine {
  volunteerId: number
  name: string
  selected: boolean
  start: string // wall clock, Beijing
  end: string
}

export interface TableRowBody {
  volunteer_id: number
  started_at?: string
  ended_at?: string
}

/**
 * The selected lines as the API's rows. A time left at the activity's own is not sent (the API takes
 * the activity's then); a line whose end is not after its start is held back with a problem to show.
 */
export function tableRows(lines: readonly TableLine[], activityStart: string, activityEnd: string):
  { rows: TableRowBody[]; problems: string[] } {
  const rows: TableRowBody[] = []
  const problems: string[] = []
  const defaultStart = toWallClock(activityStart)
  const defaultEnd = toWallClock(activityEnd)
  for (const line of lines) {
    if (!line.selected) continue
    const start = line.start || defaultStart
    const end = line.end || defaultEnd
    const startIso = shanghaiToIso(start)
    const endIso = shanghaiToIso(end)
    if (!startIso || !endIso) {
      problems.push(`${line.name}：签到或签退时间无法识别`)
      continue
    }
    if (end <= start) {
      problems.push(`${line.name}：签退时间应晚于签到时间`)
      continue
    }
    rows.push({
      volunteer_id: line.volunteerId,
      ...(start !== defaultStart ? { started_at: startIso } : {}),
      ...(end !== defaultEnd ? { ended_at: endIso } : {}),
    })
  }
  return { rows, problems }
}

export interface RowOutcome {
  row: number
  status: string
  minutes: number
  error: { code: string; message: string } | null
}

/** One row's result after a table or a sheet was committed, as the organiser reads it. */
export function outcomeOf(row: RowOutcome): { text: string; type: Tag } {
  if (row.status === 'recorded') return { text: `已计入 ${formatMinutes(row.minutes)}`, type: 'success' }
  const why = row.error?.message ?? '原因不明'
  if (row.status === 'skipped') return { text: `未提交：${why}`, type: 'info' }
  return { text: `未计入：${why}`, type: 'danger' }
}

export interface BulkSummary {
  recorded: number
  refused: number
  skipped: number
  minutes: number
}

export function summaryOf(result: BulkSummary): string {
  const parts = [`已计入 ${result.recorded} 人，共 ${formatMinutes(result.minutes)}`]
  if (result.refused) parts.push(`${result.refused} 人未计入`)
  if (result.skipped) parts.push(`${result.skipped} 行有问题未提交`)
  return parts.join('；')
}

/** The sign-in sheet's limit in the API (the body is base64 JSON of at most 1 MiB). */
export const SHEET_MAX_BYTES = 700 * 1024

/** Why a picked sign-in sheet cannot be sent, or null. */
export function precheckSheet(file: Pick<File, 'name' | 'size'>): string | null {
  if (!/\.xlsx$/i.test(file.name)) return `「${file.name}」不是 .xlsx 文件，请在 Excel 中另存为 .xlsx`
  if (file.size === 0) return `「${file.name}」是空文件`
  if (file.size > SHEET_MAX_BYTES) return `「${file.name}」超过 700 KB，请只保留签到表内容`
  return null
}

/** Bytes as base64 (the preview is JSON), in chunks so a large sheet does not overflow the call stack. */
export function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

export interface RatingLine {
  volunteer_id: number
  rating: string | null
  note: string | null
}

export interface RatingDraft {
  rating: string
  note: string
}

/** Only the attendees whose rating or note was changed (and who have a rating) go to the PUT. */
export function changedRatings(lines: readonly RatingLine[], drafts: Record<number, RatingDraft>):
  { volunteer_id: number; rating: string; note: string }[] {
  const items = []
  for (const line of lines) {
    const draft = drafts[line.volunteer_id]
    if (!draft || !draft.rating) continue
    const note = draft.note.trim()
    if (draft.rating === line.rating && note === (line.note ?? '')) continue
    items.push({ volunteer_id: line.volunteer_id, rating: draft.rating, note })
  }
  return items
}

export interface Photo {
  token: string
  url: string
  thumbnail_url: string | null
  content_type?: string
}

export interface GalleryItem {
  key: string
  url: string
  thumbnail: string | null
  caption: string
  isImage: boolean
}

export interface EvidenceLike extends Photo {
  source: string
  caption: string
}

/**
 * The activity's evidence (GET /activities/{id}/evidence: the report's photos, confirmed declarations',
 * an approved 补录's evidence) as the gallery shows it: images (with a thumbnail) open in the lightbox,
 * the others (a scanned sheet as PDF) are links; a file listed twice shows once.
 */
export function gallery(items: readonly EvidenceLike[]): GalleryItem[] {
  const seen = new Set<string>()
  const shown: GalleryItem[] = []
  for (const item of items) {
    if (seen.has(item.token)) continue
    seen.add(item.token)
    const isImage = item.thumbnail_url !== null && (item.content_type ?? 'image/').startsWith('image/')
    shown.push({ key: item.token, url: item.url, thumbnail: item.thumbnail_url, caption: item.caption, isImage })
  }
  return shown
}

/** The full-size links of the gallery's images, in order, for the lightbox. */
export function lightboxOf(items: readonly GalleryItem[]): string[] {
  return items.filter((item) => item.isImage).map((item) => item.url)
}
