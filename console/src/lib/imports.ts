import { apiHref } from '@/api/client'

// 导入: an organisation's spreadsheet of volunteers or past records goes up as XLSX, comes back as a
// preview (counts, and each listed row's problems by its Excel row number), then is committed once.
// The API checks everything; these only turn its answers into what the page shows.

export type ImportKind = 'volunteers' | 'records'

export const IMPORT_KINDS: readonly { value: ImportKind; label: string; hint: string }[] = [
  { value: 'volunteers', label: '志愿者名册', hint: '姓名、手机号、身份证号、类别、特长技能、所在社区；按身份证号或手机号找出已有的志愿者' },
  { value: 'records', label: '历史服务记录', hint: '姓名、身份证号或手机号、活动名称、服务日期、服务时长（小时）；志愿者须已在系统中' },
]

export function kindLabel(kind: string): string {
  return IMPORT_KINDS.find((item) => item.value === kind)?.label ?? kind
}

/** The link of the empty template with the columns the API reads. */
export function templateHref(kind: ImportKind): string {
  return apiHref('/api/v1/imports/template', { kind })
}

export const IMPORT_STATUS: Record<string, [string, 'info' | 'success']> = {
  previewed: ['已预览，未导入', 'info'],
  committed: ['已导入', 'success'],
}

export interface RowProblem { column: string; message: string }
export interface ListedRow {
  row: number
  result: string
  problems?: RowProblem[]
  volunteer_id?: number | null
  matched_by?: string | null
}
export interface ImportSummaryLike {
  rows: number
  new: number
  existing: number
  problems: number
  listed: ListedRow[]
  is_truncated: boolean
  same_file_committed_at: string | null
}

const MATCHED_BY: Record<string, string> = {
  id_number: '按身份证号找到已有的志愿者',
  mobile: '按手机号找到已有的志愿者',
  fingerprint: '同一条记录此前已导入',
}

/** One line per listed row: its Excel row number, whether it is skipped or wrong, and why. */
export function rowLines(summary: Pick<ImportSummaryLike, 'listed'>): { row: number; result: string; text: string }[] {
  return [...summary.listed].sort((a, b) => a.row - b.row).map((item) => ({
    row: item.row,
    result: item.result,
    text: item.result === 'problem'
      ? (item.problems ?? []).map((p) => `${p.column}：${p.message}`).join('；')
      : `已存在，将跳过（${MATCHED_BY[item.matched_by ?? ''] ?? '系统中已有'}）`,
  }))
}

export function summaryText(summary: Pick<ImportSummaryLike, 'rows' | 'new' | 'existing' | 'problems'>): string {
  return `共 ${summary.rows} 行：新增 ${summary.new} 行，已存在 ${summary.existing} 行，有问题 ${summary.problems} 行`
}

/** What the commit button does: with problems it can only skip them (the API refuses otherwise). */
export function commitPlan(summary: Pick<ImportSummaryLike, 'new' | 'problems'>): { skipProblems: boolean; label: string } {
  if (summary.problems > 0) {
    return { skipProblems: true, label: `跳过有问题的 ${summary.problems} 行，导入其余 ${summary.new} 行` }
  }
  return { skipProblems: false, label: summary.new > 0 ? `确认导入 ${summary.new} 行` : '确认（没有新的行，不会写入）' }
}

export function outcomeText(outcome: { written: number; existing: number; skipped: number } | null | undefined): string {
  if (!outcome) return '—'
  return `写入 ${outcome.written}，已存在 ${outcome.existing}，跳过 ${outcome.skipped}`
}

/** Only spreadsheets saved as .xlsx: an .xls or .csv would only be refused by the API after the upload. */
export function xlsxPrecheck(file: Pick<File, 'name' | 'size'>, maxBytes = 10 * 1024 * 1024): string | null {
  if (!/\.xlsx$/i.test(file.name)) return `「${file.name}」不是 .xlsx 文件：请在 Excel 或 WPS 中另存为 .xlsx 后再上传`
  if (file.size === 0) return `「${file.name}」是空文件`
  if (file.size > maxBytes) return `「${file.name}」太大（上限 ${Math.round(maxBytes / 1024 / 1024)} MB）`
  return null
}
