// A volunteer's full archive (the 2012 记录办法's fields): how the time was recorded, evaluations, the
// award and complaint entries (append-only: taking one back appends a retraction), the period filter.
import type { Label } from '@/lib/labels'

const SOURCES: Record<string, Label> = {
  scan: { text: '扫码签到', type: 'success' },
  manual: { text: '人工更正', type: 'warning' },
  bulk: { text: '批量录入', type: 'primary' },
  declaration: { text: '自主申报', type: 'primary' },
  retroactive: { text: '补录', type: 'warning' },
  import: { text: '导入', type: 'info' },
}

/** How minutes came to be recorded (scans are 信用时长; the rest were entered by people). */
export function sourceLabel(source: string): Label {
  return SOURCES[source] ?? { text: source, type: 'info' }
}

const EVALUATIONS: Record<string, Label> = {
  excellent: { text: '优秀', type: 'success' },
  qualified: { text: '合格', type: 'primary' },
  unqualified: { text: '不合格', type: 'danger' },
}

export function evaluationLabel(rating: string | null | undefined): Label {
  if (!rating) return { text: '未评价', type: 'info' }
  return EVALUATIONS[rating] ?? { text: rating, type: 'info' }
}

export type EntryKind = 'award' | 'complaint'

export const ENTRY_KINDS: { value: EntryKind; label: string; titleLabel: string; issuerLabel: string; reasonHint: string }[] = [
  { value: 'award', label: '表彰', titleLabel: '表彰名称', issuerLabel: '授予单位', reasonHint: '如表彰文件文号' },
  { value: 'complaint', label: '投诉', titleLabel: '投诉事由', issuerLabel: '投诉来源', reasonHint: '如投诉受理编号' },
]

export function entryKindLabel(kind: string): string {
  return ENTRY_KINDS.find((k) => k.value === kind)?.label ?? kind
}

export interface EntryDraft {
  kind: EntryKind
  title: string
  detail: string
  issuer: string
  occurred_on: string
  reason: string
}

export function emptyDraft(kind: EntryKind = 'award'): EntryDraft {
  return { kind, title: '', detail: '', issuer: '', occurred_on: '', reason: '' }
}

/**
 * The form's problems before it is sent (the API checks again and has the last word): field → message.
 * `today` is Beijing's date (YYYY-MM-DD); an entry cannot be dated after it.
 */
export function draftProblems(draft: EntryDraft, today: string): Record<string, string> {
  const problems: Record<string, string> = {}
  const kind = ENTRY_KINDS.find((k) => k.value === draft.kind) ?? ENTRY_KINDS[0]
  if (draft.title.trim().length < 2) problems.title = `请填写${kind.titleLabel}（至少 2 个字）`
  if (draft.issuer.trim() && draft.issuer.trim().length < 2) problems.issuer = `${kind.issuerLabel}至少 2 个字`
  if (!/^\d{4}-\d{2}-\d{2}$/.test(draft.occurred_on)) problems.occurred_on = '请选择日期'
  else if (draft.occurred_on > today) problems.occurred_on = '不能晚于今天'
  if (draft.reason.trim().length < 2) problems.reason = '请填写记录依据（至少 2 个字）'
  return problems
}

/** The request body of a draft (empty optional fields left out), for an organiser acting for `organizationId`. */
export function entryBody(draft: EntryDraft, organizationId: number | null): {
  kind: EntryKind; title: string; detail: string; issuer: string | null; occurred_on: string; reason: string; organization_id: number | null
} {
  return {
    kind: draft.kind,
    title: draft.title.trim(),
    detail: draft.detail.trim(),
    issuer: draft.issuer.trim() || null,
    occurred_on: draft.occurred_on,
    reason: draft.reason.trim(),
    organization_id: organizationId,
  }
}

/** The archive's query for a period picked as [from, to] days (both inclusive); nothing for "all time". */
export function periodQuery(range: readonly [string, string] | null | undefined): { from?: string; to?: string } {
  if (!range || !range[0] || !range[1]) return {}
  return range[0] <= range[1] ? { from: range[0], to: range[1] } : { from: range[1], to: range[0] }
}

/** The presets offered beside the picker: this year, last year, the last 12 months (Beijing dates). */
export function periodPresets(today: string): { label: string; range: [string, string] }[] {
  const year = Number(today.slice(0, 4))
  const [, month, day] = today.split('-')
  const yearAgo = `${year - 1}-${month}-${month === '02' && day === '29' ? '28' : day}`
  return [
    { label: '今年', range: [`${year}-01-01`, today] },
    { label: '去年', range: [`${year - 1}-01-01`, `${year - 1}-12-31`] },
    { label: '近 12 个月', range: [yearAgo, today] },
  ]
}

/** Hours with at most two decimals: "2.5 小时". */
export function hoursOf(minutes: number): string {
  return `${Math.round((minutes / 60) * 100) / 100} 小时`
}
