import { describe, expect, it } from 'vitest'
import { accountText, amountText, checkBonus, checkFunding, checkPointsRules, gradeOptions, lineDetail, pointsBodyFrom,
  pointsFormFrom, rankingName, referenceText, ruleOriginText, ruleValueText, RULE_FIELDS, volunteerNumberQuery, yearOptions,
  type PointsRulesInForce, type PointsRulesValues } from '@/lib/points'

const IN_FORCE: PointsRulesInForce = {
  points_per_hour: 10, grade_coefficients: [1, 1.5, 2], sources: ['scan', 'declaration'], yearly_cap: 1500,
  expiry_months: 0, gift_max_per_gift: 0, gift_max_per_year: 500, bonus_cap_per_activity: 50, earning_starts_on: null,
  origins: { points_per_hour: 7, grade_coefficients: null, sources: null, yearly_cap: 3, expiry_months: null,
    gift_max_per_gift: null, gift_max_per_year: null, bonus_cap_per_activity: null, earning_starts_on: null },
  origin_names: { 7: '渝中区', 3: '重庆市' },
}
const NONE = Object.fromEntries(RULE_FIELDS.map((f) => [f, null])) as PointsRulesValues

describe('points rules', () => {
  it('says where each value comes from', () => {
    expect(ruleOriginText(IN_FORCE, 'points_per_hour', 7)).toBe('本级设置')
    expect(ruleOriginText(IN_FORCE, 'yearly_cap', 7)).toBe('继承自 重庆市')
    expect(ruleOriginText(IN_FORCE, 'sources', 7)).toBe('系统默认')
  })

  it('reads values, 0 meaning no limit', () => {
    expect(ruleValueText('points_per_hour', IN_FORCE)).toBe('10 分/小时')
    expect(ruleValueText('grade_coefficients', IN_FORCE)).toBe('一级 ×1，二级 ×1.5，三级 ×2')
    expect(ruleValueText('sources', IN_FORCE)).toBe('扫码签到、自主申报')
    expect(ruleValueText('expiry_months', IN_FORCE)).toBe('不过期')
    expect(ruleValueText('gift_max_per_gift', IN_FORCE)).toBe('不限')
    expect(ruleValueText('yearly_cap', IN_FORCE)).toBe('1500 分')
    expect(ruleValueText('earning_starts_on', IN_FORCE)).toBe('不限')
    expect(ruleValueText('earning_starts_on', { ...IN_FORCE, earning_starts_on: '2027-01-01' })).toBe('2027-01-01 起开始的活动')
  })

  it('sends the earning cut-off as a date, and only when set here', () => {
    const form = pointsFormFrom({ ...NONE, earning_starts_on: '2027-01-01' }, IN_FORCE)
    expect(form.set.earning_starts_on).toBe(true)
    expect(pointsBodyFrom(form).earning_starts_on).toBe('2027-01-01')
    form.earning_starts_on = null
    expect(checkPointsRules(form).earning_starts_on).toBe('请选择起算日期')
    form.set.earning_starts_on = false
    expect(pointsBodyFrom(form).earning_starts_on).toBeNull()
  })

  it('sends only the values set here', () => {
    const form = pointsFormFrom({ ...NONE, points_per_hour: 12 }, IN_FORCE)
    expect(form.set.points_per_hour).toBe(true)
    expect(form.set.yearly_cap).toBe(false)
    expect(form.yearly_cap).toBe(1500)
    const body = pointsBodyFrom(form)
    expect(body.points_per_hour).toBe(12)
    expect(body.yearly_cap).toBeNull()
    expect(Object.keys(body).sort()).toEqual([...RULE_FIELDS].sort())
    form.set.grade_coefficients = true
    expect(pointsBodyFrom(form).grade_coefficients).toEqual([1, 1.5, 2])
  })

  it('starts an unset form from the values in force', () => {
    const form = pointsFormFrom(null, IN_FORCE)
    expect(Object.values(form.set).every((v) => !v)).toBe(true)
    expect(form.points_per_hour).toBe(10)
  })

  it('checks bounds before sending', () => {
    const form = pointsFormFrom(null, IN_FORCE)
    expect(checkPointsRules(form)).toEqual({})
    form.set.points_per_hour = true
    form.points_per_hour = 1001
    form.set.sources = true
    form.sources = []
    form.set.grade_coefficients = true
    form.grade_coefficients = [1, null, 2]
    expect(Object.keys(checkPointsRules(form)).sort()).toEqual(['grade_coefficients', 'points_per_hour', 'sources'])
    form.set.points_per_hour = false
    expect(checkPointsRules(form).points_per_hour).toBeUndefined()
  })
})

describe('pool and bonuses', () => {
  it('formats amounts and references', () => {
    expect(amountText(120)).toBe('+120')
    expect(amountText(-30)).toBe('-30')
    expect(referenceText('activity:12')).toBe('活动 #12')
    expect(referenceText('something')).toBe('something')
    expect(referenceText(null)).toBe('—')
  })

  it('checks a bonus and a funding amount', () => {
    expect(checkBonus({ volunteerId: null, activityId: null, amount: null, reason: '' }, 100))
      .toEqual({ volunteer: '请选择志愿者', activity: '请选择活动', amount: '请填写正整数积分', reason: '请填写奖励理由，如“暴雨夜坚守岗位”' })
    expect(checkBonus({ volunteerId: 1, activityId: 2, amount: 150, reason: '暴雨夜坚守岗位' }, 100)).toEqual({ amount: '奖励池余额只有 100 分' })
    expect(checkBonus({ volunteerId: 1, activityId: 2, amount: 50, reason: '  暴雨夜坚守岗位 ' }, 100)).toEqual({})
    expect(checkBonus({ volunteerId: 1, activityId: 2, amount: 50, reason: '   ' }, 100).reason).toBeDefined()
    expect(checkBonus({ volunteerId: 1, activityId: 2, amount: 50, reason: '长'.repeat(101) }, 100).reason).toBe('奖励理由最多 100 个字')
    expect(checkFunding(0)).not.toBeNull()
    expect(checkFunding(500)).toBeNull()
  })

  it('names ranking lines and years', () => {
    expect(rankingName({ rank: 1, name: '张*', points: 3 })).toBe('张*')
    expect(rankingName({ rank: 2, name: null, points: 1 })).toBe('匿名')
    expect(yearOptions(new Date(2026, 5, 1), 2)).toEqual([2026, 2025, 2024])
  })
})

describe('the ledger of an account', () => {
  it('says where a line came from and its memo', () => {
    expect(lineDetail({ code_label: '组织奖励', origin: '活动「防汛值守」', memo: '暴雨夜坚守岗位' })).toBe('活动「防汛值守」 「暴雨夜坚守岗位」')
    expect(lineDetail({ code_label: '积分拨付', origin: null, memo: null, reference: 'organization:3' })).toBe('组织 #3')
    expect(lineDetail({ code_label: '积分转赠' })).toBe('—')
  })

  it('reads a volunteer number and names accounts', () => {
    expect(volunteerNumberQuery('  V0001 ')).toBe('V0001')
    expect(volunteerNumberQuery('   ')).toBeNull()
    expect(accountText({ id: 1, kind_label: '积分发行', name: '一社区 积分发行', balance: -100 })).toBe('一社区 积分发行（余额 -100）')
  })

  it('offers the activity grades with their coefficients', () => {
    expect(gradeOptions([{ grade: 1, label: '一级', coefficient: 1 }, { grade: 2, label: '二级', coefficient: 1.2 }]))
      .toEqual([{ value: 0, label: '未分级（×1）' }, { value: 1, label: '一级（×1）' }, { value: 2, label: '二级（×1.2）' }])
  })
})
