import { describe, expect, it } from 'vitest'
import {
  asStatus, chartValue, currentPeriod, defaultPeriod, drillTo, drillUp, figureOf, flagLabel, flagOf, formatChange, formatTarget,
  formatValue, fractionText, periodAxisLabel, periodKind, periodLabel, periodOfKind, periodOptions, queryToTrailIds, shiftPeriod,
  statusColor, statusCounts, statusLabel, trailToQuery, kpiViewOf, organizationView, bottomNames, rankingColumns,
} from '@/lib/kpi'

// 2026-12-31 20:00 UTC is already 2027-01-01 04:00 in Beijing.
const NEW_YEAR_BEIJING = new Date('2026-12-31T20:00:00Z')
const MID_NOVEMBER = new Date('2026-11-15T02:00:00Z')

describe('period keys', () => {
  it('knows the three kinds and nothing else', () => {
    expect(periodKind('2026-11')).toBe('month')
    expect(periodKind('2026-Q4')).toBe('quarter')
    expect(periodKind('2026')).toBe('year')
    expect(periodKind('2026-13')).toBeNull()
    expect(periodKind('2026-Q5')).toBeNull()
    expect(periodKind('')).toBeNull()
  })

  it('takes the current period in Beijing time, not the browser zone', () => {
    expect(currentPeriod('month', NEW_YEAR_BEIJING)).toBe('2027-01')
    expect(currentPeriod('quarter', NEW_YEAR_BEIJING)).toBe('2027-Q1')
    expect(currentPeriod('year', NEW_YEAR_BEIJING)).toBe('2027')
    expect(currentPeriod('quarter', MID_NOVEMBER)).toBe('2026-Q4')
  })

  it('steps across year ends', () => {
    expect(shiftPeriod('2027-01', -1)).toBe('2026-12')
    expect(shiftPeriod('2026-12', 1)).toBe('2027-01')
    expect(shiftPeriod('2026-11', -11)).toBe('2025-12')
    expect(shiftPeriod('2027-Q1', -1)).toBe('2026-Q4')
    expect(shiftPeriod('2026-Q4', 5)).toBe('2028-Q1')
    expect(shiftPeriod('2026', -2)).toBe('2024')
  })

  it('writes periods in Chinese', () => {
    expect(periodLabel('2026-11')).toBe('2026年11月')
    expect(periodLabel('2026-03')).toBe('2026年3月')
    expect(periodLabel('2026-Q4')).toBe('2026年第四季度')
    expect(periodLabel('2026')).toBe('2026年')
    expect(periodAxisLabel('2026-11', '2026-10')).toBe('11月')
    expect(periodAxisLabel('2027-01', '2026-12')).toBe('2027.1')
    expect(periodAxisLabel('2026-Q2', '2026-Q1')).toBe('Q2')
  })

  it('offers the picker newest first, the current one marked as to date', () => {
    const months = periodOptions('month', MID_NOVEMBER)
    expect(months).toHaveLength(24)
    expect(months[0]).toEqual({ value: '2026-11', label: '2026年11月（本月，截至今天）' })
    expect(months[1]).toEqual({ value: '2026-10', label: '2026年10月' })
    expect(months[23].value).toBe('2024-12')
    const quarters = periodOptions('quarter', MID_NOVEMBER, 3)
    expect(quarters.map((q) => q.value)).toEqual(['2026-Q4', '2026-Q3', '2026-Q2'])
    expect(periodOptions('year', MID_NOVEMBER, 2).map((y) => y.label)).toEqual(['2026年（本年，截至今天）', '2025年'])
  })

  it('opens on the last complete month, and keeps the time when the kind changes', () => {
    expect(defaultPeriod('month', NEW_YEAR_BEIJING)).toBe('2026-12')
    expect(defaultPeriod('quarter', MID_NOVEMBER)).toBe('2026-Q4')
    expect(periodOfKind('2026-11', 'quarter')).toBe('2026-Q4')
    expect(periodOfKind('2026-02', 'year')).toBe('2026')
    expect(periodOfKind('2026-Q2', 'month')).toBe('2026-06')
    expect(periodOfKind('2026', 'quarter')).toBe('2026-Q4')
    expect(periodOfKind('2026-Q2', 'quarter')).toBe('2026-Q2')
  })
})

describe('traffic lights', () => {
  it('names and colours each status, anything unknown as not applicable', () => {
    expect(statusLabel('green')).toBe('达标')
    expect(statusLabel('yellow')).toBe('接近目标')
    expect(statusLabel('red')).toBe('未达标')
    expect(statusLabel('none')).toBe('不适用')
    expect(asStatus('purple')).toBe('none')
    expect(statusColor('red')).not.toBe(statusColor('green'))
    expect(statusCounts([{ status: 'green' }, { status: 'red' }, { status: 'green' }, { status: 'none' }]))
      .toEqual({ green: 2, yellow: 0, red: 1, none: 1 })
  })
})

describe('values by unit', () => {
  it('writes percents, hours and counts', () => {
    expect(formatValue(13.24, 'percent')).toBe('13.2%')
    expect(formatValue(70, 'percent')).toBe('70%')
    expect(formatValue(100, 'percent')).toBe('100%')
    expect(formatValue(18.46, 'hours')).toBe('18.5 小时')
    expect(formatValue(0, 'hours')).toBe('0 小时')
    expect(formatValue(7, 'count')).toBe('7')
    expect(formatValue(null, 'percent')).toBe('—')
    expect(formatValue(Number.NaN, 'count')).toBe('—')
    expect(formatTarget(13, 'percent')).toBe('≥ 13%')
    expect(formatTarget(null, 'count')).toBe('—')
  })

  it('writes changes in points for percents', () => {
    expect(formatChange(1.2, 'percent')).toBe('+1.2 个百分点')
    expect(formatChange(-0.5, 'hours')).toBe('−0.5 小时')
    expect(formatChange(0, 'count')).toBe('±0')
    expect(formatChange(null, 'count')).toBe('—')
  })

  it('plots to one decimal', () => {
    expect(chartValue(12.34)).toBe(12.3)
    expect(chartValue(3.14159)).toBe(3.1)
    expect(chartValue(null)).toBeNull()
  })

  it('says what the numerator and denominator count', () => {
    expect(fractionText({ key: 'registration_rate', numerator: 1320, denominator: 10000 })).toBe('注册志愿者 1,320 ／ 常住人口 10,000')
    expect(fractionText({ key: 'festival_campaigns', numerator: 4, denominator: 10 })).toBe('开展活动的节庆主题 4')
    expect(fractionText({ key: 'something_new', numerator: 1, denominator: 2 })).toBe('分子 1 ／ 分母 2')
    expect(fractionText({ key: 'recorded_rate', numerator: null, denominator: null })).toBe('暂无数据')
  })
})

describe('the ranking', () => {
  it('flags the bottom three yellow and, with enough children, the top three red', () => {
    expect(flagOf({ rank: 10, bottom: true }, 10)).toBe('yellow')
    expect(flagOf({ rank: 1, bottom: false }, 10)).toBe('red')
    expect(flagOf({ rank: 4, bottom: false }, 10)).toBeNull()
    // four children: the top three would meet the bottom three, so only the API's bottom flag shows
    expect(flagOf({ rank: 1, bottom: false }, 4)).toBeNull()
    expect(flagOf({ rank: 2, bottom: true }, 4)).toBe('yellow')
    expect(flagOf({ rank: null }, 10)).toBeNull()
    expect(flagLabel('red')).toBe('红旗')
    expect(flagLabel('yellow')).toBe('黄旗')
    expect(flagLabel(null)).toBe('')
  })

  it('finds a row\'s figure by key', () => {
    const figures = [{ key: 'a', value: 1 }, { key: 'b', value: 2 }]
    expect(figureOf(figures, 'b')?.value).toBe(2)
    expect(figureOf(figures, 'c')).toBeUndefined()
    expect(figureOf(null, 'a')).toBeUndefined()
  })
})

describe('drill-down', () => {
  const street = { id: 5, name: '解放碑街道' }
  const community = { id: 9, name: '解放碑社区' }
  const other = { id: 10, name: '较场口社区' }

  it('goes down and back up, never above the user\'s own node', () => {
    let trail = drillTo([], street)
    expect(trail).toEqual([street])
    trail = drillTo(trail, community)
    expect(trail).toEqual([street, community])
    expect(drillTo(trail, street)).toEqual([street])
    expect(drillUp(trail, 0)).toEqual([street])
    expect(drillUp(trail, -3)).toEqual([street])
    expect(drillUp(trail, 7)).toEqual([street, community])
    expect(drillTo(trail, other)).toEqual([street, community, other])
  })

  it('keeps the nodes below the user\'s in the address bar', () => {
    expect(trailToQuery([street, community, other])).toBe('9,10')
    expect(trailToQuery([street])).toBe('')
    expect(queryToTrailIds('9,10')).toEqual([9, 10])
    expect(queryToTrailIds('9,x,-1')).toEqual([9])
    expect(queryToTrailIds(undefined)).toEqual([])
  })
})

describe('the answers made into the panel', () => {
  const figure = (key: string, status: string, computed_at: string | null = null) =>
    ({ key, label: key, unit: 'percent', value: 50, numerator: 5, denominator: 10, target: 70, yellow_band: 10, status, computed_at })

  it('reads GET /kpis with its ranked children and the oldest snapshot time', () => {
    const view = kpiViewOf({
      region: { name: '渝中区' }, period: '2026-11',
      figures: [figure('recorded_rate', 'red', '2026-12-01T00:05:00Z'), figure('registration_rate', 'green', '2026-12-01T00:00:00Z')],
      children: [{ region: { id: 5, name: '解放碑街道' }, rank: 1, score: 0.9, bottom_three: false, figures: [figure('recorded_rate', 'green')] },
        { region: { id: 6, name: '较场口街道' }, rank: 2, score: 0.4, bottom_three: true, figures: [figure('recorded_rate', 'red')] }],
    })
    expect(view.name).toBe('渝中区')
    expect(view.computedAt).toBe('2026-12-01T00:00:00Z')
    expect(view.children.map((c) => [c.region.name, c.bottom])).toEqual([['解放碑街道', false], ['较场口街道', true]])
    expect(bottomNames(view.children)).toEqual(['较场口街道'])
    expect(rankingColumns(view.children, view.figures).map((c) => c.key)).toEqual(['recorded_rate'])
    expect(kpiViewOf({ region: { name: 'x' }, period: '2026', figures: [], children: null }).children).toEqual([])
  })

  it('shows an organisation\'s plain counts with what they are in the hover text', () => {
    const view = organizationView('渝中区志愿者协会', {
      period: '2026-11', volunteers_served: 12, hours: 40.5, activities_held: 3, trainings_held: 1,
      care_themes: { 空巢老人: 2, 留守儿童: 0 }, festival_campaigns: ['重阳节'], professional_team_kinds: [],
    })
    expect(view.figures.map((f) => formatValue(f.value, f.unit))).toEqual(['12', '40.5 小时', '3', '1', '1', '1', '0'])
    expect(view.figures.every((f) => f.status === 'none')).toBe(true)
    expect(fractionText(view.figures[4])).toBe('空巢老人 2 次')
    expect(fractionText(view.figures[6])).toBe('还没有专业队伍开展活动')
  })
})
