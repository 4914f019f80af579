import { describe, expect, it } from 'vitest'
import {
  actsAsSponsor, bodyOf, changesOf, checkForm, emptyForm, formOf, handedOverBy, kindText, limitText, personText,
  pickupInput, pickupRefusal, pickupSuccess, priceText, REDEMPTION_STATUS_OPTIONS, redemptionQuery, redemptionTag,
  rewardState, type RewardValues,
} from '@/lib/rewards'

const reward: RewardValues & { status: string } = {
  kind: 'goods', publisher: 'station', sponsor_name: null, title: '环保袋', description: null, points_price: 30,
  stock: 10, limit_per_person: 1, valid_from: '2026-12-01T00:00:00+08:00', valid_until: '2026-12-31T00:00:00+08:00',
  pickup_place: '一社区服务站', hold_minutes: null, status: 'published',
}

describe('rewardState', () => {
  const now = new Date('2026-12-05T04:00:00Z')
  it('reads withdrawn, ended, not started, sold out and on offer', () => {
    expect(rewardState({ ...reward, status: 'withdrawn' }, now).text).toBe('已下架')
    expect(rewardState({ ...reward, valid_until: '2026-12-05T11:59:00+08:00' }, now).text).toBe('已结束')
    expect(rewardState({ ...reward, valid_from: '2026-12-06T00:00:00+08:00' }, now).text).toBe('未开始')
    expect(rewardState({ ...reward, stock: 0 }, now)).toEqual({ text: '已售罄', type: 'danger' })
    expect(rewardState(reward, now)).toEqual({ text: '兑换中', type: 'success' })
  })
})

describe('the form', () => {
  it('starts on offer from now for 30 days, in Beijing time', () => {
    const form = emptyForm(new Date('2026-12-05T04:00:30Z'))
    expect(form.valid_from).toBe('2026-12-05 12:00')
    expect(form.valid_until).toBe('2027-01-04 12:00')
    expect(form.limit_per_person).toBe(1)
  })

  it('sends Beijing wall-clock times with their offset and trims texts', () => {
    const form = { ...emptyForm(), title: ' 环保袋 ', points_price: 30, stock: 2, pickup_place: '服务站 ',
      valid_from: '2026-12-01 09:00', valid_until: '2026-12-31 18:00', sponsor_name: '不该发送' }
    expect(bodyOf(form)).toEqual({
      kind: 'goods', publisher: 'station', sponsor_name: null, title: '环保袋', description: null, points_price: 30,
      stock: 2, limit_per_person: 1, valid_from: '2026-12-01T09:00:00+08:00', valid_until: '2026-12-31T18:00:00+08:00',
      pickup_place: '服务站', hold_minutes: null,
    })
  })

  it('edits only what changed', () => {
    const form = formOf(reward)
    expect(form.valid_from).toBe('2026-12-01 00:00')
    expect(changesOf(reward, form)).toEqual({})
    expect(changesOf(reward, { ...form, stock: 20, title: '布袋' })).toEqual({ stock: 20, title: '布袋' })
    expect(changesOf(reward, { ...form, valid_until: '2027-01-31 00:00' })).toEqual({ valid_until: '2027-01-31T00:00:00+08:00' })
  })

  it('checks what the API checks before sending', () => {
    expect(checkForm({ ...emptyForm(), title: '环保袋', points_price: 30, stock: 2, pickup_place: '服务站' })).toEqual({})
    const errors = checkForm({ ...emptyForm(), title: 'a', points_price: null, stock: null, pickup_place: '',
      publisher: 'sponsor', valid_from: '2026-12-02 00:00', valid_until: '2026-12-01 00:00' })
    expect(Object.keys(errors).sort()).toEqual(['pickup_place', 'points_price', 'sponsor_name', 'stock', 'title', 'valid_until'])
    expect(errors.valid_until).toBe('结束时间应晚于开始时间')
  })
})

describe('pickupInput', () => {
  it('reads six digits as a typed code, with a scanner’s spaces', () => {
    expect(pickupInput('123456')).toEqual({ code: '123456' })
    expect(pickupInput(' 123 456\n')).toEqual({ code: '123456' })
  })
  it('reads a QR token, or one inside a URL', () => {
    expect(pickupInput('AbCdEfGh_1234-5678')).toEqual({ token: 'AbCdEfGh_1234-5678' })
    expect(pickupInput('https://example.org/r/AbCdEfGh12345678')).toEqual({ token: 'AbCdEfGh12345678' })
    expect(pickupInput('https://example.org/pickup?token=AbCdEfGh12345678')).toEqual({ token: 'AbCdEfGh12345678' })
  })
  it('refuses anything else', () => {
    expect(pickupInput('')).toBeNull()
    expect(pickupInput('12345')).toBeNull()
    expect(pickupInput('短码')).toBeNull()
  })
})

describe('the pick-up result', () => {
  it('says 兑换成功 with the masked name and the reward', () => {
    expect(pickupSuccess({ reward_title: '环保袋', points: 30, volunteer_name: '张*三' }))
      .toEqual({ ok: true, title: '兑换成功', detail: '张*三 · 环保袋（30 积分）' })
    expect(pickupSuccess({ reward_title: '环保袋', points: 30 }).detail).toBe('环保袋（30 积分）')
  })
  it('keeps the API’s words for a refusal', () => {
    expect(pickupRefusal('该兑换已领取、取消或过期，不能再操作', 'redemption_not_held'))
      .toEqual({ ok: false, title: '无法兑换', detail: '该兑换已领取、取消或过期，不能再操作' })
    expect(pickupRefusal('取货码无效', 'pickup_code_invalid').title).toBe('取货码无效')
  })
})

describe('labels', () => {
  it('reads kinds, prices and limits', () => {
    expect(kindText('service')).toBe('服务')
    expect(priceText(30)).toBe('30 积分')
    expect(limitText(2)).toBe('每人限 2 份')
  })
})

describe('the station lists', () => {
  it('asks for a status only when one is chosen, and continues after the cursor', () => {
    expect(redemptionQuery('', null)).toEqual({ limit: 20 })
    expect(redemptionQuery('fulfilled', 'abc')).toEqual({ limit: 20, status: 'fulfilled', cursor: 'abc' })
    expect(REDEMPTION_STATUS_OPTIONS.map((o) => o.label)).toEqual(['全部', '待领取', '已领取', '已取消', '已过期'])
  })
  it('tags the states and says who handed a reward over', () => {
    expect(redemptionTag('fulfilled')).toBe('success')
    expect(redemptionTag('held')).toBe('warning')
    expect(redemptionTag('odd')).toBe('info')
    expect(handedOverBy({ fulfilled_by_account_id: 7, fulfilled_by_name: '王*明' })).toBe('王*明')
    expect(handedOverBy({ fulfilled_by_account_id: 7, fulfilled_by_name: null })).toBe('账号 7')
    expect(handedOverBy({ fulfilled_by_account_id: null, fulfilled_by_name: null })).toBe('—')
  })
  it('names people masked, with their number, or by account', () => {
    expect(personText('张*三', 'V0012')).toBe('张*三（V0012）')
    expect(personText('张*三', null)).toBe('张*三')
    expect(personText(null, null, 42)).toBe('账号 42')
  })
  it('knows a sponsor by its rewards or its account', () => {
    expect(actsAsSponsor([{ publisher: 'station' }], 0)).toBe(false)
    expect(actsAsSponsor([{ publisher: 'station' }, { publisher: 'sponsor' }], 0)).toBe(true)
    expect(actsAsSponsor([], 3)).toBe(true)
  })
})
