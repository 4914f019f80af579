import { describe, expect, it } from 'vitest'
import { channelRows, deliveryState } from '@/lib/announcements'

describe('announcement delivery state', () => {
  it('is building while the recipients are written', () => {
    const state = deliveryState({ status: 'queued', recipients: 0, unreachable: 0, progress: {} })
    expect(state).toMatchObject({ key: 'building', text: '正在生成接收名单', done: false, percent: 0 })
  })

  it('is sending while any channel has messages waiting', () => {
    const state = deliveryState({
      status: 'fanned_out', recipients: 4, unreachable: 1,
      progress: { miniprogram_subscribe: { queued: 1, sent: 2 }, inbox: { sent: 1 } },
    })
    expect(state).toMatchObject({ key: 'sending', text: '正在发送', done: false, percent: 75 })
  })

  it('reads 已发送 once nothing waits, failures counted but not resent', () => {
    const state = deliveryState({
      status: 'fanned_out', recipients: 4, unreachable: 1,
      progress: { miniprogram_subscribe: { sent: 2, failed: 1 }, inbox: { sent: 1 } },
    })
    expect(state).toMatchObject({ key: 'sent', text: '已发送', done: true, percent: 100, failed: 1, tag: 'warning' })
    expect(deliveryState({ status: 'fanned_out', recipients: 0, unreachable: 0, progress: {} })).toMatchObject({ text: '已发送', done: true })
  })

  it('never shows 100 % before it is done', () => {
    const state = deliveryState({ status: 'queued', recipients: 2, unreachable: 0, progress: { inbox: { sent: 2 } } })
    expect(state.percent).toBe(99)
  })

  it('lists channels in a fixed order with labels and percentages', () => {
    const rows = channelRows({ inbox: { sent: 1 }, wecom_robot: { queued: 1, sent: 1 }, miniprogram_subscribe: { sent: 3, skipped: 1 } })
    expect(rows.map((r) => r.label)).toEqual(['小程序订阅消息', '企业微信群机器人', '站内信'])
    expect(rows[0]).toMatchObject({ total: 4, percent: 100, failed: 0, ambiguous: 0 })
    expect(rows[1]).toMatchObject({ total: 2, percent: 50 })
  })
})
