import { describe, expect, it } from 'vitest'
import { activityCards, barOption, currentYearRange, monthLabels, monthlyActivitiesOption, pieOption, points, rangeQuery, shareRows, volunteerCards } from '@/lib/statistics'

describe('statistics window', () => {
  it('defaults to the current year in Beijing, even late on 31 December in UTC', () => {
    expect(currentYearRange(new Date('2026-06-01T00:00:00Z'))).toEqual(['2026-01-01', '2026-12-31'])
    expect(currentYearRange(new Date('2026-12-31T16:30:00Z'))).toEqual(['2027-01-01', '2027-12-31'])
  })

  it('asks for the range, or for the default when none is picked', () => {
    expect(rangeQuery(['2026-03-01', '2026-03-31'])).toEqual({ from: '2026-03-01', until: '2026-03-31' })
    expect(rangeQuery(null)).toEqual({})
  })
})

describe('statistics tables and charts', () => {
  it('gives each line its share of the total, rounded to a tenth', () => {
    const rows = shareRows([{ label: '男', count: 1 }, { label: '女', count: 2 }], (l) => l.count)
    expect(rows).toEqual([{ label: '男', value: 1, share: '33.3%' }, { label: '女', value: 2, share: '66.7%' }])
    expect(shareRows([{ label: '男', count: 0 }], (l) => l.count)[0].share).toBe('—')
  })

  it('names months briefly within a year and fully across years', () => {
    expect(monthLabels(['2026-01', '2026-12'])).toEqual(['1月', '12月'])
    expect(monthLabels(['2025-12', '2026-01'])).toEqual(['2025年12月', '2026年1月'])
  })

  it('draws horizontal bars top-down in the order of the lines', () => {
    const option = barOption(points([{ key: 'a', label: '甲', count: 3 }, { key: 'b', label: '乙', count: 1 }]), { name: '人', horizontal: true })
    expect(option.yAxis).toMatchObject({ type: 'category', data: ['乙', '甲'] })
    expect(option.series[0].data).toEqual([1, 3])
    const vertical = barOption([{ label: '甲', value: 3 }], { name: '人' })
    expect(vertical.xAxis).toMatchObject({ type: 'category', data: ['甲'] })
  })

  it('leaves empty slices out of a pie and stacks the kinds of a month', () => {
    const pie = pieOption([{ label: '男', value: 2 }, { label: '女', value: 0 }], '性别')
    expect(pie.series[0].data).toEqual([{ name: '男', value: 2 }])
    const months = monthlyActivitiesOption([{ month: '2026-03', service: 2, training: 1, total: 3 }])
    expect(months.series.map((s) => [s.name, s.data])).toEqual([['志愿服务', [2]], ['培训', [1]]])
    expect(months.xAxis.data).toEqual(['3月'])
  })
})

describe('statistics cards', () => {
  const line = (key: string, count: number) => ({ key, label: key, count })
  const volunteers = {
    total: 3, by_category: [line('党员', 2), line('青年', 2)], by_gender: [line('男', 1), line('女', 2)],
    by_age_band: [line('18岁以下', 3)], by_region: [{ region_id: 7, label: '一社区', count: 3 }], by_team_kind: [line('医疗卫生', 1)],
  }

  it('gives shares where the lines add up to the total, none where one person counts in several', () => {
    const cards = volunteerCards(volunteers)
    expect(cards.map((c) => c.key)).toEqual(['by-region', 'by-category', 'by-gender', 'by-age', 'by-team-kind'])
    expect(cards.find((c) => c.key === 'by-gender')!.rows.map((r) => r.share)).toEqual(['33.3%', '66.7%'])
    expect(cards.filter((c) => !c.shares).map((c) => c.key)).toEqual(['by-category', 'by-team-kind'])
  })

  it('shows organisations by hours, with 其他 last as the API gives it', () => {
    const cards = activityCards({
      activities: { total: 1, by_theme: [line('党员', 1)], by_kind: [line('志愿服务', 1)], by_month: [] },
      hours: { total_minutes: 150, total_hours: 2.5, by_month: [], by_organization: [
        { organization_id: 1, label: '甲协会', minutes: 120, hours: 2 }, { organization_id: null, label: '其他', minutes: 30, hours: 0.5 }] },
      teams: { total: 0, by_kind: [line('综合', 0)] },
    })
    const organizations = cards.find((c) => c.key === 'by-organization')!
    expect(organizations.rows).toEqual([{ label: '甲协会', value: 2, share: '80%' }, { label: '其他', value: 0.5, share: '20%' }])
    expect(cards.find((c) => c.key === 'teams-by-kind')!.rows[0].share).toBe('—')
  })
})
