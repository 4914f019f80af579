// The statistics page (GET /statistics): the date range it asks for, the tables under the charts and the
// ECharts options it draws. The numbers are the API's; nothing here counts anything again.
import type { AnswerOf, QueryOf } from '@/api/types'
import { todayInShanghai } from '@/lib/time'

export type Statistics = AnswerOf<'/api/v1/statistics'>
export type StatisticsQuery = QueryOf<'/api/v1/statistics'>
export type CountLine = Statistics['volunteers']['by_category'][number]
export type MonthActivities = Statistics['activities']['by_month'][number]
export type MonthHours = Statistics['hours']['by_month'][number]

/** One line of a table: what, how many, and its share of the column's total ("12.5%"). */
export interface ShareRow {
  label: string
  value: number
  share: string
}

/** A range of Shanghai days, inclusive, as the date picker gives it: ["2026-01-01", "2026-12-31"]. */
export type DayRange = [string, string]

/** The current year in Beijing, the API's default window. */
export function currentYearRange(now: Date = new Date()): DayRange {
  const year = todayInShanghai(now).slice(0, 4)
  return [`${year}-01-01`, `${year}-12-31`]
}

/** The query's window; no range (cleared picker) asks for the API's default, this year. */
export function rangeQuery(range: DayRange | null | undefined): Pick<StatisticsQuery, 'from' | 'until'> {
  return range ? { from: range[0], until: range[1] } : {}
}

export function shareRows<T extends { label: string }>(lines: readonly T[], value: (line: T) => number): ShareRow[] {
  const total = lines.reduce((sum, line) => sum + value(line), 0)
  return lines.map((line) => ({
    label: line.label,
    value: value(line),
    share: total > 0 ? `${Math.round((value(line) / total) * 1000) / 10}%` : '—',
  }))
}

/** "3月" within one year, "2026年3月" when the months span years. */
export function monthLabels(months: readonly string[]): string[] {
  const years = new Set(months.map((m) => m.slice(0, 4)))
  return months.map((m) => {
    const [year, month] = m.split('-')
    return years.size > 1 ? `${year}年${Number(month)}月` : `${Number(month)}月`
  })
}

const COLORS = ['#d4380d', '#1677ff', '#389e0d', '#d48806', '#722ed1', '#13c2c2', '#eb2f96', '#8c8c8c']

/** Bars of counts by label; horizontal when the labels are many or long (themes, organisations). */
export function barOption(lines: readonly { label: string; value: number }[], options: { name: string; horizontal?: boolean }) {
  const labels = lines.map((line) => line.label)
  const values = lines.map((line) => line.value)
  const category = { type: 'category', data: options.horizontal ? [...labels].reverse() : labels, axisTick: { alignWithLabel: true } }
  const value = { type: 'value', minInterval: 1 }
  return {
    animation: false,
    color: COLORS,
    tooltip: { trigger: 'axis' },
    grid: { left: options.horizontal ? 120 : 48, right: 24, top: 16, bottom: 28, containLabel: !options.horizontal },
    xAxis: options.horizontal ? value : { ...category, axisLabel: { interval: 0, rotate: labels.length > 8 ? 30 : 0 } },
    yAxis: options.horizontal ? { ...category, axisLabel: { width: 110, overflow: 'truncate' } } : value,
    series: [{ name: options.name, type: 'bar', data: options.horizontal ? [...values].reverse() : values, barMaxWidth: 28 }],
  }
}

/** A pie of shares; lines with nothing in them are left out (a pie slice of 0 says nothing). */
export function pieOption(lines: readonly { label: string; value: number }[], name: string) {
  return {
    animation: false,
    color: COLORS,
    tooltip: { trigger: 'item', formatter: '{b}：{c}（{d}%）' },
    legend: { bottom: 0 },
    series: [{
      name, type: 'pie', radius: ['35%', '65%'], center: ['50%', '45%'],
      data: lines.filter((line) => line.value > 0).map((line) => ({ name: line.label, value: line.value })),
    }],
  }
}

/** Activities per month, services and trainings stacked. */
export function monthlyActivitiesOption(months: readonly MonthActivities[]) {
  return {
    animation: false,
    color: COLORS,
    tooltip: { trigger: 'axis' },
    legend: { data: ['志愿服务', '培训'], top: 0 },
    grid: { left: 48, right: 24, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: monthLabels(months.map((m) => m.month)) },
    yAxis: { type: 'value', minInterval: 1 },
    series: [
      { name: '志愿服务', type: 'bar', stack: 'kind', data: months.map((m) => m.service), barMaxWidth: 28 },
      { name: '培训', type: 'bar', stack: 'kind', data: months.map((m) => m.training), barMaxWidth: 28 },
    ],
  }
}

/** Service hours per month, a line. */
export function monthlyHoursOption(months: readonly MonthHours[]) {
  return {
    animation: false,
    color: ['#1677ff'],
    tooltip: { trigger: 'axis' },
    grid: { left: 56, right: 24, top: 24, bottom: 28 },
    xAxis: { type: 'category', data: monthLabels(months.map((m) => m.month)) },
    yAxis: { type: 'value', name: '小时' },
    series: [{ name: '服务时长（小时）', type: 'line', smooth: true, data: months.map((m) => m.hours), areaStyle: { opacity: 0.15 } }],
  }
}

/** Count lines as chart points. */
export function points(lines: readonly CountLine[] | readonly { label: string; count: number }[]): { label: string; value: number }[] {
  return lines.map((line) => ({ label: line.label, value: line.count }))
}

/** One card of the page: a chart over its table (what, how many, and the share where shares mean something). */
export interface StatCard {
  key: string
  title: string
  hint?: string
  option: Record<string, unknown>
  rows: ShareRow[]
  what: string
  unit: string
  shares: boolean
  height: number
  wide: boolean
}

function card(key: string, title: string, option: Record<string, unknown>, rows: ShareRow[],
  extra: Partial<StatCard> & { what: string; unit: string }): StatCard {
  return { key, title, option, rows, shares: true, height: 260, wide: false, ...extra }
}

const byCount = (line: { count: number }) => line.count

/** The volunteers' cards, in the page's order. */
export function volunteerCards(v: Statistics['volunteers']): StatCard[] {
  return [
    card('by-region', '按地区（居住地）', barOption(points(v.by_region), { name: '志愿者', horizontal: true }),
      shareRows(v.by_region, byCount), { what: '地区', unit: '人数', wide: true }),
    card('by-category', '按类别', barOption(points(v.by_category), { name: '志愿者' }), shareRows(v.by_category, byCount),
      { what: '类别', unit: '人数', hint: '一人可属多个类别', shares: false, wide: true }),
    card('by-gender', '按性别', pieOption(points(v.by_gender), '性别'), shareRows(v.by_gender, byCount), { what: '性别', unit: '人数' }),
    card('by-age', '按年龄段', barOption(points(v.by_age_band), { name: '志愿者' }), shareRows(v.by_age_band, byCount),
      { what: '年龄段', unit: '人数' }),
    card('by-team-kind', '按所在队伍类型', barOption(points(v.by_team_kind), { name: '志愿者', horizontal: true }),
      shareRows(v.by_team_kind, byCount), { what: '队伍类型', unit: '人数', hint: '一人在多类队伍中各计一次', shares: false }),
  ]
}

/** The cards of activities, hours by organisation and teams, in the page's order. */
export function activityCards(s: Pick<Statistics, 'activities' | 'hours' | 'teams'>): StatCard[] {
  const organizations = s.hours.by_organization
  return [
    card('by-theme', '活动按关爱主题', barOption(points(s.activities.by_theme), { name: '活动', horizontal: true }),
      shareRows(s.activities.by_theme, byCount), { what: '主题', unit: '活动（场）', hint: '一个活动可有多个主题', shares: false, height: 380, wide: true }),
    card('by-organization', '服务时长按组织', barOption(organizations.map((o) => ({ label: o.label, value: o.hours })), { name: '小时', horizontal: true }),
      shareRows(organizations, (o) => o.hours), { what: '组织', unit: '小时', hint: '前 20 名，其余合为「其他」', height: 380, wide: true }),
    card('by-kind', '活动按类型', pieOption(points(s.activities.by_kind), '活动类型'), shareRows(s.activities.by_kind, byCount),
      { what: '类型', unit: '活动（场）', wide: true }),
    card('teams-by-kind', '队伍按类型', barOption(points(s.teams.by_kind), { name: '队伍', horizontal: true }),
      shareRows(s.teams.by_kind, byCount), { what: '类型', unit: '队伍（支）', wide: true }),
  ]
}
