import { describe, expect, it } from 'vitest'
import { bandText, canEditAt, checkTarget, inputUnits, levelsText, originText, targetOrigin, targetText } from '@/lib/kpiTargets'

describe('KPI targets', () => {
  it('says where a target comes from', () => {
    expect(targetOrigin({ source: null }, 5)).toBe('default')
    expect(targetOrigin({ source: { id: 5, name: '解放碑街道' } }, 5)).toBe('own')
    expect(targetOrigin({ source: { id: 2, name: '渝中区' } }, 5)).toBe('inherited')
    expect(originText({ source: null }, 5)).toBe('系统默认')
    expect(originText({ source: { id: 5, name: '解放碑街道' } }, 5)).toBe('本级设置')
    expect(originText({ source: { id: 2, name: '渝中区' } }, 5)).toBe('继承自 渝中区')
  })

  it('writes targets and bands in their units', () => {
    expect(targetText('percent', 13)).toBe('≥ 13%')
    expect(targetText('hours', 25)).toBe('全年 ≥ 25 小时')
    expect(targetText('count', 6)).toBe('≥ 6')
    expect(targetText('percent', 12.345)).toBe('≥ 12.35%')
    expect(bandText('percent', 3)).toBe('差 3 个百分点以内')
    expect(bandText('hours', 20)).toBe('差目标的 20% 以内')
    expect(bandText('count', 2)).toBe('差 2 以内')
    expect(inputUnits('hours')).toEqual({ target: '小时/年', band: '% 的目标' })
    expect(levelsText(['city', 'district', 'street'])).toBe('市、区县、镇街')
  })

  it('checks the form before sending it', () => {
    expect(checkTarget('percent', 13, 3)).toEqual({})
    expect(checkTarget('percent', 120, 3).target).toBe('百分比不能超过 100')
    expect(checkTarget('percent', 10, 10).yellow_band).toBe('黄灯区间应小于目标')
    expect(checkTarget('count', null, 2).target).toBe('请填写目标')
    expect(checkTarget('hours', 30, 20)).toEqual({})
    expect(checkTarget('hours', 30, 150).yellow_band).toContain('不能超过 100')
    expect(checkTarget('count', 6, -1).yellow_band).toBe('黄灯区间不能小于 0')
  })

  it('lets an admin edit only their own region', () => {
    expect(canEditAt(5, 5)).toBe(true)
    expect(canEditAt(7, 5)).toBe(false)
    expect(canEditAt(5, null)).toBe(false)
  })
})
