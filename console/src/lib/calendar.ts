// The festival calendar page: the year's festival days (GET /calendar), each with the organisation's
// campaigns for it (GET /organizations/{id}/campaigns), grouped by month.

export interface FestivalDay {
  key: string
  name: string
  date: string // YYYY-MM-DD
  rule: string
  theme: string
  lead: string
  local_day_id?: number | null
  region_id?: number | null
}

export interface CampaignItem {
  id: number
  festival_key: string
  name: string
  year: number
  day: string
  organization_id: number | null
  region_id: number
  theme: string
  lead: string
  status: string
  automatic: boolean
  /** How many live activities serve the campaign (what counts towards the year's target). */
  activity_count: number
  /** The organisation's linked activities, soonest first (drafts only for its organisers). */
  activities: LinkedActivity[]
}

/** An activity linked to a campaign, as GET /organizations/{id}/campaigns lists it. */
export interface LinkedActivity {
  id: number
  title: string
  starts_at: string
  status: string
}

export interface CalendarEntry extends FestivalDay {
  campaigns: CampaignItem[]
  /** Days from today (Beijing) to the festival; negative once past. */
  daysAway: number
  past: boolean
}

export interface MonthGroup {
  month: number // 1–12
  label: string // "3月"
  entries: CalendarEntry[]
}

export const RULE_LABELS: Record<string, string> = {
  solar: '公历', lunar: '农历', solar_term: '节气', nth_weekday: '按星期', local: '地方',
}

function dayNumber(isoDate: string): number {
  const [y, m, d] = isoDate.slice(0, 10).split('-').map(Number)
  return Math.round(Date.UTC(y, m - 1, d) / 86_400_000)
}

export function daysBetween(fromIso: string, toIso: string): number {
  return dayNumber(toIso) - dayNumber(fromIso)
}

/** Festival days in date order, each with its campaigns, grouped by month (months without days left out). */
export function groupCalendar(days: readonly FestivalDay[], campaigns: readonly CampaignItem[], todayIso: string): MonthGroup[] {
  const byKey = new Map<string, CampaignItem[]>()
  for (const c of campaigns) {
    const list = byKey.get(c.festival_key) ?? []
    list.push(c)
    byKey.set(c.festival_key, list)
  }
  const sorted = [...days].sort((a, b) => a.date.localeCompare(b.date) || a.name.localeCompare(b.name))
  const groups: MonthGroup[] = []
  for (const day of sorted) {
    const month = Number(day.date.slice(5, 7))
    let group = groups[groups.length - 1]
    if (!group || group.month !== month) {
      group = { month, label: `${month}月`, entries: [] }
      groups.push(group)
    }
    const away = daysBetween(todayIso, day.date)
    group.entries.push({ ...day, campaigns: byKey.get(day.key) ?? [], daysAway: away, past: away < 0 })
  }
  return groups
}

/** Campaigns whose festival key is not among the year's days (e.g. a local day removed since). */
export function orphanCampaigns(days: readonly FestivalDay[], campaigns: readonly CampaignItem[]): CampaignItem[] {
  const keys = new Set(days.map((d) => d.key))
  return campaigns.filter((c) => !keys.has(c.festival_key))
}

/** "还有 3 天" / "今天" / "已过". */
export function distanceText(daysAway: number): string {
  if (daysAway === 0) return '今天'
  if (daysAway < 0) return '已过'
  return `还有 ${daysAway} 天`
}

/** Upcoming days in the next `window` days that have no campaign with activities yet. */
export function upcomingWithoutActivity(groups: readonly MonthGroup[], window = 30): CalendarEntry[] {
  return groups.flatMap((g) => g.entries).filter((e) => e.daysAway >= 0 && e.daysAway <= window
    && !e.campaigns.some((c) => c.activity_count > 0 || c.status === 'planned'))
}

export const CAMPAIGN_STATUS: Record<string, { text: string; type: 'info' | 'success' | 'warning' }> = {
  draft: { text: '待策划', type: 'warning' },
  planned: { text: '已有活动', type: 'success' },
}
