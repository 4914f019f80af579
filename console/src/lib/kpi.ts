// The KPI panel's logic: periods and the period picker, traffic-light colours and labels, values by
// unit, the children's ranking with its flags, and the drill-down trail. No API calls here: the pages
// pass the answers of GET /kpis (and /organizations/{id}/kpis) in.

export type KpiStatus = 'green' | 'yellow' | 'red' | 'none'
export type KpiUnit = 'percent' | 'hours' | 'count'
export type PeriodKind = 'month' | 'quarter' | 'year'

/** One indicator of one node, as the API answers it (the fields the console reads). */
export interface KpiFigureLike {
  key: string
  label: string
  unit: string
  value: number | null
  numerator: number | null
  denominator: number | null
  target: number | null
  yellow_band?: number | null
  status: string
}

// --- periods ---------------------------------------------------------------------------------------
// Keys as the API spells them: 2026-11 (month), 2026-Q4 (quarter), 2026 (year). "Now" is Beijing time.

const SHANGHAI_MS = 8 * 3600 * 1000
const CN_QUARTERS = ['一', '二', '三', '四']

export function periodKind(key: string): PeriodKind | null {
  if (/^\d{4}-(0[1-9]|1[0-2])$/.test(key)) return 'month'
  if (/^\d{4}-Q[1-4]$/.test(key)) return 'quarter'
  if (/^\d{4}$/.test(key)) return 'year'
  return null
}

function beijing(now: Date): { year: number; month: number } {
  const d = new Date(now.getTime() + SHANGHAI_MS)
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1 }
}

/** The period of the given kind that contains `now` (Beijing time). */
export function currentPeriod(kind: PeriodKind, now: Date = new Date()): string {
  const { year, month } = beijing(now)
  if (kind === 'year') return String(year)
  if (kind === 'quarter') return `${year}-Q${Math.floor((month - 1) / 3) + 1}`
  return `${year}-${String(month).padStart(2, '0')}`
}

/** The period `by` steps away (negative: earlier), same kind. */
export function shiftPeriod(key: string, by: number): string {
  const kind = periodKind(key)
  if (kind === 'year') return String(Number(key) + by)
  if (kind === 'quarter') {
    const index = Number(key.slice(0, 4)) * 4 + Number(key.slice(6)) - 1 + by
    return `${Math.floor(index / 4)}-Q${(index % 4) + 1}`
  }
  if (kind === 'month') {
    const index = Number(key.slice(0, 4)) * 12 + Number(key.slice(5)) - 1 + by
    return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`
  }
  return key
}

/** 2026年11月, 2026年第四季度, 2026年. */
export function periodLabel(key: string): string {
  const kind = periodKind(key)
  if (kind === 'month') return `${key.slice(0, 4)}年${Number(key.slice(5))}月`
  if (kind === 'quarter') return `${key.slice(0, 4)}年第${CN_QUARTERS[Number(key.slice(6)) - 1]}季度`
  if (kind === 'year') return `${key}年`
  return key
}

/** A short label for a chart's axis: 11月, Q4, 2026 (the year added where it changes). */
export function periodAxisLabel(key: string, previous?: string): string {
  const kind = periodKind(key)
  const yearChanged = !previous || previous.slice(0, 4) !== key.slice(0, 4)
  if (kind === 'month') return yearChanged ? `${key.slice(0, 4)}.${Number(key.slice(5))}` : `${Number(key.slice(5))}月`
  if (kind === 'quarter') return yearChanged ? `${key.slice(0, 4)} ${key.slice(5)}` : key.slice(5)
  return key
}

export const PERIOD_KINDS: readonly { value: PeriodKind; label: string }[] = [
  { value: 'month', label: '月度' },
  { value: 'quarter', label: '季度' },
  { value: 'year', label: '年度' },
]

const OPTION_COUNTS: Record<PeriodKind, number> = { month: 24, quarter: 12, year: 5 }

/** The picker's periods of a kind, the current one first (marked 本月/本季度/本年，至今). */
export function periodOptions(kind: PeriodKind, now: Date = new Date(), count = OPTION_COUNTS[kind]): { value: string; label: string }[] {
  const current = currentPeriod(kind, now)
  const suffix = { month: '（本月，截至今天）', quarter: '（本季度，截至今天）', year: '（本年，截至今天）' }[kind]
  return Array.from({ length: count }, (_, i) => {
    const value = shiftPeriod(current, -i)
    return { value, label: periodLabel(value) + (i === 0 ? suffix : '') }
  })
}

/** The period a picker opens on: the last complete month (what the bulletin ranks), else the current one. */
export function defaultPeriod(kind: PeriodKind, now: Date = new Date()): string {
  return kind === 'month' ? shiftPeriod(currentPeriod('month', now), -1) : currentPeriod(kind, now)
}

/** A period key turned to the picker's kind (the same month's quarter or year), for switching kinds. */
export function periodOfKind(key: string, kind: PeriodKind): string {
  const from = periodKind(key)
  if (!from || from === kind) return key
  const year = key.slice(0, 4)
  const month = from === 'month' ? Number(key.slice(5)) : from === 'quarter' ? Number(key.slice(6)) * 3 : 12
  if (kind === 'year') return year
  if (kind === 'quarter') return `${year}-Q${Math.floor((month - 1) / 3) + 1}`
  return `${year}-${String(month).padStart(2, '0')}`
}

// --- status --------------------------------------------------------------------------------------

export const STATUS_COLORS: Record<KpiStatus, string> = {
  green: '#389e0d', yellow: '#d48806', red: '#cf1322', none: '#8c8c8c',
}
export const STATUS_BACKGROUNDS: Record<KpiStatus, string> = {
  green: '#f6ffed', yellow: '#fffbe6', red: '#fff1f0', none: '#fafafa',
}
const STATUS_LABELS: Record<KpiStatus, string> = { green: '达标', yellow: '接近目标', red: '未达标', none: '不适用' }

export function asStatus(value: string | null | undefined): KpiStatus {
  return value === 'green' || value === 'yellow' || value === 'red' ? value : 'none'
}

export function statusLabel(status: string | null | undefined): string {
  return STATUS_LABELS[asStatus(status)]
}

export function statusColor(status: string | null | undefined): string {
  return STATUS_COLORS[asStatus(status)]
}

/** How many indicators are green, yellow, red (the panel's summary line). */
export function statusCounts(figures: readonly Pick<KpiFigureLike, 'status'>[]): Record<KpiStatus, number> {
  const counts: Record<KpiStatus, number> = { green: 0, yellow: 0, red: 0, none: 0 }
  for (const f of figures) counts[asStatus(f.status)] += 1
  return counts
}

// --- values --------------------------------------------------------------------------------------
// Percent indicators travel in percent (13 = 13 %, targets and bands too: the bands in points); hours
// as hours; counts as whole numbers.

function asUnit(unit: string): KpiUnit {
  return unit === 'percent' || unit === 'hours' ? unit : 'count'
}

function trim(n: number, digits: number): string {
  return n.toFixed(digits).replace(/\.?0+$/, '')
}

/** 13.2%, 18.5 小时, 7 — or — when there is no value. */
export function formatValue(value: number | null | undefined, unit: string): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  const u = asUnit(unit)
  if (u === 'percent') return `${trim(value, 1)}%`
  if (u === 'hours') return `${trim(value, 1)} 小时`
  return trim(value, 1)
}

/** The target as the panel writes it: ≥ 13%, ≥ 25 小时, ≥ 6. */
export function formatTarget(target: number | null | undefined, unit: string): string {
  if (target === null || target === undefined) return '—'
  return `≥ ${formatValue(target, unit)}`
}

/** A change between two values: +1.2 个百分点, −0.5 小时, +2. */
export function formatChange(delta: number | null | undefined, unit: string): string {
  if (delta === null || delta === undefined || !Number.isFinite(delta)) return '—'
  const sign = delta > 0 ? '+' : delta < 0 ? '−' : '±'
  const abs = Math.abs(delta)
  const u = asUnit(unit)
  if (u === 'percent') return `${sign}${trim(abs, 1)} 个百分点`
  if (u === 'hours') return `${sign}${trim(abs, 1)} 小时`
  return `${sign}${trim(abs, 1)}`
}

/** The number a chart plots, to one decimal. */
export function chartValue(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null
  return Math.round(value * 10) / 10
}

export function unitAxisName(unit: string): string {
  const u = asUnit(unit)
  return u === 'percent' ? '%' : u === 'hours' ? '小时' : '个'
}

// What the numerator and denominator count, per indicator (the hover card).
const PARTS: Record<string, [string, string]> = {
  registration_rate: ['注册志愿者', '常住人口'],
  recorded_rate: ['有服务记录的志愿者', '注册志愿者'],
  hours_per_volunteer: ['服务时长（小时）', '注册志愿者'],
  station_activity: ['活动达标的社区站点', '社区站点'],
  care_themes: ['达标的关爱主题', '关爱主题'],
  professional_team_kinds: ['开展活动的专业队伍类别', ''],
  festival_campaigns: ['开展活动的节庆主题', ''],
  quarterly_training: ['按季培训的队伍和镇街', '队伍和镇街'],
  self_registration_rate: ['自主注册的志愿者', '注册志愿者'],
}

function count(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('zh-CN') : trim(n, 1)
}

/** "注册志愿者 1,320 ／ 常住人口 10,000" (numerator alone for the counted indicators). */
export function fractionText(figure: Pick<KpiFigureLike, 'key' | 'numerator' | 'denominator'> & { hint?: string | null }): string {
  if (figure.hint) return figure.hint
  const [top, bottom] = PARTS[figure.key] ?? ['分子', '分母']
  if (figure.numerator === null || figure.numerator === undefined) return '暂无数据'
  const numerator = `${top} ${count(figure.numerator)}`
  if (!bottom || figure.denominator === null || figure.denominator === undefined) return numerator
  return `${numerator} ／ ${bottom} ${count(figure.denominator)}`
}

// --- ranking -------------------------------------------------------------------------------------

export type Flag = 'red' | 'yellow' | null

export interface RankedRowLike {
  rank: number | null
  bottom?: boolean | null
}

/**
 * The flags of the ranking (the 红旗/黄旗 practice): the API flags the bottom three (黄旗); the top
 * three get a 红旗 when there are enough children that the two groups do not meet (more than six).
 */
export function flagOf(row: RankedRowLike, total: number): Flag {
  if (row.bottom) return 'yellow'
  if (row.rank !== null && row.rank <= 3 && total > 6) return 'red'
  return null
}

export function flagLabel(flag: Flag): string {
  return flag === 'red' ? '红旗' : flag === 'yellow' ? '黄旗' : ''
}

/** A score (0–1, the mean share of target met) as a whole percent. */
export function scoreText(score: number | null | undefined): string {
  return score === null || score === undefined || !Number.isFinite(score) ? '—' : `${Math.round(score * 100)}`
}

/** A child's figure for one indicator, by key (rows carry their figures as a list). */
export function figureOf<F extends { key: string }>(figures: readonly F[] | null | undefined, key: string): F | undefined {
  return figures?.find((f) => f.key === key)
}

// --- drill-down ----------------------------------------------------------------------------------

export interface TrailNode { id: number; name: string }

/**
 * The breadcrumb after moving to `node`: from the user's own node down. Moving to a node already on the
 * trail cuts it there; a node is never put above the user's own (the root stays first).
 */
export function drillTo(trail: readonly TrailNode[], node: TrailNode): TrailNode[] {
  const at = trail.findIndex((t) => t.id === node.id)
  if (at >= 0) return trail.slice(0, at + 1)
  if (trail.length === 0) return [node]
  return [...trail, node]
}

/** The trail cut back to the given depth (0 = the user's own node); never empties it. */
export function drillUp(trail: readonly TrailNode[], depth: number): TrailNode[] {
  return trail.slice(0, Math.max(1, Math.min(trail.length, depth + 1)))
}

/** The trail in the address bar (?at=12,34): the ids below the user's node. */
export function trailToQuery(trail: readonly TrailNode[]): string {
  return trail.slice(1).map((t) => t.id).join(',')
}

export function queryToTrailIds(value: unknown): number[] {
  if (typeof value !== 'string' || !value) return []
  return value.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0)
}

// --- what the panel draws --------------------------------------------------------------------------

export interface TrendPointView { period: string; value: number | null; status: string }

export interface KpiFigureView extends KpiFigureLike {
  definition?: string | null
  trend?: TrendPointView[] | null
  computed_at?: string | null
  /** The hover text when numerator/denominator say nothing (an organisation's plain counts). */
  hint?: string | null
}

export interface KpiChildRow {
  region: TrailNode & { level?: string | null }
  rank: number | null
  score: number | null
  bottom: boolean
  figures: KpiFigureLike[]
}

export interface KpiView {
  /** The node (or organisation) the figures are for. */
  name: string
  period: string
  figures: KpiFigureView[]
  children: KpiChildRow[]
  computedAt: string | null
}

/** The ranking's columns: the indicators that apply to at least one child, in catalogue order. */
export function rankingColumns(rows: readonly KpiChildRow[], figures: readonly KpiFigureLike[]): { key: string; label: string; unit: string }[] {
  const order = figures.length ? figures : rows[0]?.figures ?? []
  return order
    .filter((f) => rows.some((r) => asStatus(figureOf(r.figures, f.key)?.status) !== 'none' || figureOf(r.figures, f.key)?.value != null))
    .map((f) => ({ key: f.key, label: f.label, unit: f.unit }))
}

/** The bottom three's names, worst last, for the line under the ranking. */
export function bottomNames(rows: readonly KpiChildRow[]): string[] {
  return rows.filter((r) => r.bottom).sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0)).map((r) => r.region.name)
}

/** GET /kpis's answer (with children=true) as the panel draws it. */
export function kpiViewOf(answer: {
  region: { name: string }
  period: string
  figures: KpiFigureView[]
  children?: { region: TrailNode & { level?: string | null }; rank: number; score: number | null; bottom_three: boolean; figures: KpiFigureLike[] }[] | null
}): KpiView {
  const stamps = answer.figures.map((f) => f.computed_at).filter((t): t is string => typeof t === 'string').sort()
  return {
    name: answer.region.name,
    period: answer.period,
    figures: answer.figures,
    children: (answer.children ?? []).map((c) => ({ region: c.region, rank: c.rank, score: c.score, bottom: c.bottom_three, figures: c.figures })),
    // The oldest snapshot among the figures: everything shown is at least this fresh.
    computedAt: stamps[0] ?? null,
  }
}

export interface OrganizationFigures {
  period: string
  volunteers_served: number
  hours: number
  activities_held: number
  trainings_held: number
  care_themes: Record<string, number>
  festival_campaigns: string[]
  professional_team_kinds: string[]
}

function plain(key: string, label: string, unit: KpiUnit, value: number, hint: string): KpiFigureView {
  return { key, label, unit, value, numerator: value, denominator: null, target: null, status: 'none', hint }
}

/** An organisation's own figures (no targets: plain counts) in the panel's shape. */
export function organizationView(name: string, answer: OrganizationFigures): KpiView {
  const themes = Object.entries(answer.care_themes).filter(([, n]) => n > 0)
  return {
    name,
    period: answer.period,
    children: [],
    computedAt: null,
    figures: [
      plain('volunteers_served', '参与服务的志愿者', 'count', answer.volunteers_served, '在本组织活动中有服务时长的志愿者，一人只算一次'),
      plain('hours', '服务时长', 'hours', answer.hours, '本组织活动的服务时长合计（含更正）'),
      plain('activities_held', '开展活动', 'count', answer.activities_held, '统计期内开始的、未取消的活动'),
      plain('trainings_held', '开展培训', 'count', answer.trainings_held, '其中的培训活动'),
      plain('care_themes', '关爱主题', 'count', themes.length, themes.length ? themes.map(([t, n]) => `${t} ${n} 次`).join('、') : '还没有关爱主题活动'),
      plain('festival_campaigns', '节日主题', 'count', answer.festival_campaigns.length, answer.festival_campaigns.join('、') || '还没有节日主题活动'),
      plain('professional_team_kinds', '专业队伍类别', 'count', answer.professional_team_kinds.length, answer.professional_team_kinds.join('、') || '还没有专业队伍开展活动'),
    ],
  }
}
