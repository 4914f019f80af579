import { describe, expect, it } from 'vitest'
import { matchField } from '@/api/feedback'
import { actionsFor, approvalLevelsText, bodyFrom, checkRules, formFrom, hoursText, levelText, originLabel, publicityText,
  RULE_FIELDS, ruleOriginKind, ruleOriginText, sourcesText, starStatus } from '@/lib/stars'

const DEFAULTS = {
  thresholds_hours: [100, 300, 600, 1000, 1500], min_months: 0, sources: ['scan', 'declaration'],
  approval_levels: ['street', 'street', 'district', 'district', 'city'], publicity_days: 5, publicity_working_days: true,
}
const NONE = { thresholds_hours: null, min_months: null, sources: null, approval_levels: null, publicity_days: null,
  publicity_working_days: null }

describe('star applications', () => {
  it('names statuses, levels, origins and hours', () => {
    expect(starStatus('pending')).toEqual({ text: '待审核', type: 'warning' })
    expect(starStatus('publicity').text).toBe('公示中')
    expect(starStatus('revoked').text).toBe('已撤销')
    expect(starStatus('odd')).toEqual({ text: 'odd', type: 'info' })
    expect(levelText(3)).toBe('★★★☆☆ 3 星')
    expect(originLabel('job')).toBe('系统发起')
    expect(originLabel('volunteer')).toBe('本人申请')
    expect(hoursText(126.456)).toBe('126.46 小时')
    expect(hoursText(100)).toBe('100 小时')
    expect(hoursText(null)).toBe('—')
  })

  it('offers the actions of each state', () => {
    expect(actionsFor({ status: 'pending', open_objections: 0 })).toEqual({ review: true, decideObjections: false, revoke: false })
    expect(actionsFor({ status: 'publicity', open_objections: 2 }).decideObjections).toBe(true)
    expect(actionsFor({ status: 'publicity', open_objections: 0 }).decideObjections).toBe(false)
    expect(actionsFor({ status: 'awarded', open_objections: 0 }).revoke).toBe(true)
    expect(actionsFor({ status: 'revoked', open_objections: 0 })).toEqual({ review: false, decideObjections: false, revoke: false })
  })
})

describe('star rules', () => {
  const inForce = { origins: { thresholds_hours: 7, min_months: 2, sources: null }, origin_names: { '2': '重庆市', '7': '渝中区' } }

  it('says where each value comes from', () => {
    expect(ruleOriginText(inForce, 'thresholds_hours', 7)).toBe('本级设置')
    expect(ruleOriginText(inForce, 'min_months', 7)).toBe('继承自 重庆市')
    expect(ruleOriginText(inForce, 'sources', 7)).toBe('系统默认')
    expect(ruleOriginText({ origins: { min_months: 3 }, origin_names: {} }, 'min_months', 7)).toBe('继承自 上级地区 #3')
    expect(ruleOriginKind(inForce, 'thresholds_hours', 7)).toBe('own')
    expect(ruleOriginKind(inForce, 'min_months', 7)).toBe('inherited')
    expect(ruleOriginKind(inForce, 'publicity_days', 7)).toBe('default')
  })

  it('writes values as a person reads them', () => {
    expect(sourcesText(['scan', 'retroactive', 'import'])).toBe('扫码签到、补录、导入')
    expect(approvalLevelsText(['street', 'street', 'district', 'district', 'city'])).toBe('1–2★ 镇街、3–4★ 区县、5★ 市')
    expect(approvalLevelsText(['district', 'district', 'district', 'district', 'district'])).toBe('1–5★ 区县')
    expect(publicityText(5, true)).toBe('5 个工作日')
    expect(publicityText(7, false)).toBe('7 个自然日')
  })

  it('fills the form from own values, else those in force, and sends only what is set here', () => {
    const form = formFrom({ ...NONE, thresholds_hours: [80, 200, 500, 800, 1000] }, DEFAULTS)
    expect(form.set.thresholds_hours).toBe(true)
    expect(form.set.min_months).toBe(false)
    expect(form.thresholds_hours).toEqual([80, 200, 500, 800, 1000])
    expect(form.publicity_days).toBe(5)
    expect(bodyFrom(form)).toEqual({ ...NONE, thresholds_hours: [80, 200, 500, 800, 1000] })
    const fresh = formFrom(null, DEFAULTS)
    expect(Object.values(fresh.set).every((v) => !v)).toBe(true)
    fresh.set.sources = true
    fresh.sources = ['scan']
    expect(bodyFrom(fresh)).toEqual({ ...NONE, sources: ['scan'] })
    fresh.thresholds_hours[0] = 1 // an inherited value edited but not set here is not sent
    expect(bodyFrom(fresh).thresholds_hours).toBeNull()
  })

  it('checks the form before sending', () => {
    const form = formFrom(null, DEFAULTS)
    expect(checkRules(form)).toEqual({})
    form.set = { thresholds_hours: true, min_months: true, sources: true, approval_levels: true, publicity_days: true, publicity_working_days: true }
    expect(checkRules(form)).toEqual({})
    form.thresholds_hours = [100, 100, 600, 1000, 1500]
    expect(checkRules(form).thresholds_hours).toBe('星级越高所需时长应越多')
    form.thresholds_hours = [100, null, 600, 1000, 1500]
    expect(checkRules(form).thresholds_hours).toBe('请为 1 至 5 星各填一个正整数小时数')
    form.sources = []
    form.publicity_days = 0
    form.min_months = -1
    const errors = checkRules(form)
    expect(errors.sources).toBe('至少选择一种计入的时长来源')
    expect(errors.publicity_days).toBe('请填写 1 至 60 之间的整数')
    expect(errors.min_months).toBe('请填写 0 至 240 之间的整数')
  })

  it('puts API field errors on the form items', () => {
    expect(matchField('thresholds_hours', RULE_FIELDS)).toBe('thresholds_hours')
    expect(matchField('thresholds_hours.2', RULE_FIELDS)).toBe('thresholds_hours')
    expect(matchField('sources.0', RULE_FIELDS)).toBe('sources')
    expect(matchField('nonce', RULE_FIELDS)).toBeNull()
  })
})
