// Certificates of volunteer service (志愿服务记录证明) as the console shows them: what each state allows the
// issuer's handler to do, the publicity countdown, and the frozen content read tolerantly (the API keeps
// it as one JSON document with four parts: identity, service, issuer, other).
import type { Label } from '@/lib/labels'
import { list, num, obj, text, type Json } from './json'

export type CertificateStatus = 'requested' | 'publicity' | 'issued' | 'rejected' | 'revoked'

export interface CertificateLike {
  status: string
  publicity_ends_at?: string | null
  open_objections?: number
  pdf_status?: string
}

const STATUS: Record<string, Label> = {
  requested: { text: '待审核', type: 'warning' },
  publicity: { text: '公示中', type: 'primary' },
  issued: { text: '已出具', type: 'success' },
  rejected: { text: '未通过', type: 'danger' },
  revoked: { text: '已撤销', type: 'info' },
}

export const STATUS_FILTERS: { value: CertificateStatus; label: string }[] = [
  { value: 'requested', label: '待审核' }, { value: 'publicity', label: '公示中' }, { value: 'issued', label: '已出具' },
  { value: 'rejected', label: '未通过' }, { value: 'revoked', label: '已撤销' },
]

export function certificateStatus(status: string | null | undefined): Label {
  if (!status) return { text: '—', type: 'info' }
  return STATUS[status] ?? { text: status, type: 'info' }
}

/** Whether publicity has run out (the API issues only then; the job does it within minutes anyway). */
export function publicityOver(row: CertificateLike, now: Date = new Date()): boolean {
  if (row.status !== 'publicity' || !row.publicity_ends_at) return false
  const ends = Date.parse(row.publicity_ends_at)
  return !Number.isNaN(ends) && ends <= now.getTime()
}

export interface CertificateActions {
  review: boolean
  decideObjections: boolean
  issue: boolean
  /** Why 出具 is not offered yet while in publicity (shown beside the disabled button). */
  issueBlocked: string | null
  revoke: boolean
  pdf: boolean
}

/** What the issuer's handler can do with a certificate in its state (the API decides in the end). */
export function actionsFor(row: CertificateLike, now: Date = new Date()): CertificateActions {
  const inPublicity = row.status === 'publicity'
  const open = row.open_objections ?? 0
  let issueBlocked: string | null = null
  if (inPublicity) {
    if (!publicityOver(row, now)) issueBlocked = '公示期尚未结束'
    else if (open > 0) issueBlocked = `还有 ${open} 条异议未处理`
  }
  return {
    review: row.status === 'requested',
    decideObjections: inPublicity,
    issue: inPublicity && issueBlocked === null,
    issueBlocked,
    revoke: row.status === 'issued',
    pdf: row.status === 'issued' || row.status === 'revoked',
  }
}

/** "公示至 12月11日（还有 3 天）", "公示期已结束，可以出具". */
export function publicityText(endsAt: string | null | undefined, now: Date = new Date()): string {
  if (!endsAt) return ''
  const ends = Date.parse(endsAt)
  if (Number.isNaN(ends)) return ''
  const ms = ends - now.getTime()
  if (ms <= 0) return '公示期已结束'
  // publicity ends at the midnight after its last day (Beijing): that last day is what people read.
  const last = new Date(ends + 8 * 3600_000 - 1)
  const day = `${last.getUTCMonth() + 1}月${last.getUTCDate()}日`
  const days = Math.ceil(ms / 86_400_000)
  return days <= 1 ? `公示至 ${day}（不足 1 天）` : `公示至 ${day}（还有 ${days} 天）`
}

export const PDF_LABELS: Record<string, string> = { pending: '生成中', ready: '已生成', failed: '生成失败，稍后自动重试' }


// --- the frozen content -------------------------------------------------------------------------------

export interface ContentLine { date: string; title: string; place: string; content: string; hours: number | null }

export interface CertificateContent {
  identity: { name: string; maskedName: string; idType: string; idNumberMasked: string; volunteerNumber: string }
  service: {
    periodStart: string; periodEnd: string; hours: number | null; scannedHours: number | null; enteredHours: number | null
    activityCount: number; activities: ContentLine[]; trainings: ContentLine[]
    awards: { date: string; title: string; grantedBy: string }[]
  }
  issuer: { name: string; personInCharge: string; handler: string; contact: string; region: string; issuedForDissolved: boolean; issuingRegion: string }
  other: { serial: string; issueDate: string; notes: string[] }
}

function line(item: Json): ContentLine {
  return { date: text(item.date), title: text(item.title), place: text(item.place), content: text(item.content), hours: num(item.hours) }
}

/** The four parts of a certificate's content (null before approval, when there is none yet). */
export function readContent(raw: unknown): CertificateContent | null {
  if (!raw || typeof raw !== 'object') return null
  const c = obj(raw)
  const identity = obj(c.identity)
  const service = obj(c.service)
  const issuer = obj(c.issuer)
  const other = obj(c.other)
  return {
    identity: {
      name: text(identity.name), maskedName: text(identity.masked_name), idType: text(identity.id_type),
      idNumberMasked: text(identity.id_number_masked), volunteerNumber: text(identity.volunteer_number),
    },
    service: {
      periodStart: text(service.period_start), periodEnd: text(service.period_end), hours: num(service.hours),
      scannedHours: num(service.scanned_hours), enteredHours: num(service.entered_hours),
      activityCount: num(service.activity_count) ?? list(service.activities).length,
      activities: list(service.activities).map(line), trainings: list(service.trainings).map(line),
      awards: list(service.awards).map((a) => ({ date: text(a.date), title: text(a.title), grantedBy: text(a.granted_by) })),
    },
    issuer: {
      name: text(issuer.name), personInCharge: text(issuer.person_in_charge), handler: text(issuer.handler),
      contact: text(issuer.contact), region: text(issuer.region), issuedForDissolved: issuer.issued_for_dissolved === true,
      issuingRegion: text(issuer.issuing_region),
    },
    other: { serial: text(other.serial), issueDate: text(other.issue_date), notes: Array.isArray(other.notes) ? other.notes.map(String) : [] },
  }
}

/** Hours as the certificate prints them: "12.5 小时", "—" when unknown. */
export function hoursText(hours: number | null | undefined): string {
  if (hours === null || hours === undefined || !Number.isFinite(hours)) return '—'
  return `${Math.round(hours * 100) / 100} 小时`
}

// --- which organisations a scope handles --------------------------------------------------------------

export interface OrganizationLike { id: number; name: string; status: string }

/**
 * The organisations whose certificates the page offers: an organiser's own; for an admin every
 * organisation of the region (readable), those no longer approved first: for them the admin is the
 * handler (the 意见: 由其上级单位出具). An organisation without organisers is also handled by the admin,
 * which only the API can tell: it answers 403 to an action the admin may not take.
 */
export function organizationChoices(items: readonly OrganizationLike[]): (OrganizationLike & { dissolved: boolean })[] {
  return items
    .filter((o) => o.status !== 'pending')
    .map((o) => ({ ...o, dissolved: o.status !== 'approved' }))
    .sort((a, b) => Number(b.dissolved) - Number(a.dissolved) || a.name.localeCompare(b.name, 'zh-CN'))
}
