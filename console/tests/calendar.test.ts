import { describe, expect, it } from 'vitest'
import { daysBetween, distanceText, groupCalendar, orphanCampaigns, upcomingWithoutActivity, type CampaignItem, type FestivalDay } from '@/lib/calendar'

const day = (key: string, date: string, name = key): FestivalDay => ({ key, name, date, rule: 'solar', theme: '主题', lead: '文明办' })
const campaign = (id: number, key: string, extra: Partial<CampaignItem> = {}): CampaignItem => ({
  id, festival_key: key, name: key, year: 2026, day: '2026-03-05', organization_id: 1, region_id: 1, theme: '主题',
  lead: '文明办', status: 'draft', automatic: false, activity_count: 0, activities: [], ...extra,
})

describe('calendar grouping', () => {
  it('groups days by month in date order with their campaigns', () => {
    const groups = groupCalendar(
      [day('volunteer_day', '2026-12-05'), day('lei_feng', '2026-03-05'), day('arbor', '2026-03-12'), day('elderly', '2026-10-29')],
      [campaign(1, 'lei_feng', { activity_count: 2, status: 'planned' }), campaign(2, 'lei_feng'), campaign(3, 'volunteer_day')],
      '2026-03-10',
    )
    expect(groups.map((g) => g.label)).toEqual(['3月', '10月', '12月'])
    expect(groups[0].entries.map((e) => e.key)).toEqual(['lei_feng', 'arbor'])
    expect(groups[0].entries[0].campaigns.map((c) => c.id)).toEqual([1, 2])
    expect(groups[0].entries[0]).toMatchObject({ past: true, daysAway: -5 })
    expect(groups[0].entries[1]).toMatchObject({ past: false, daysAway: 2 })
    expect(groups[2].entries[0].campaigns.map((c) => c.id)).toEqual([3])
  })

  it('counts days across months and years by the calendar date', () => {
    expect(daysBetween('2026-02-28', '2026-03-01')).toBe(1)
    expect(daysBetween('2026-12-31', '2027-01-01')).toBe(1)
    expect(distanceText(0)).toBe('今天')
    expect(distanceText(3)).toBe('还有 3 天')
    expect(distanceText(-1)).toBe('已过')
  })

  it('finds the coming days without an activity and campaigns without a day', () => {
    const days = [day('a', '2026-03-12'), day('b', '2026-03-20'), day('c', '2026-06-01')]
    const groups = groupCalendar(days, [campaign(1, 'b', { activity_count: 1, status: 'planned' }), campaign(2, 'gone')], '2026-03-10')
    expect(upcomingWithoutActivity(groups).map((e) => e.key)).toEqual(['a'])
    expect(orphanCampaigns(days, [campaign(1, 'b'), campaign(2, 'gone')]).map((c) => c.id)).toEqual([2])
  })
})
