import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import DeliveryProgress from '@/pages/announcements/DeliveryProgress.vue'

describe('announcement status hook', () => {
  it('reads 正在发送 while messages wait and 已发送 once delivered', async () => {
    const wrapper = mount(DeliveryProgress, {
      props: { announcement: { status: 'fanned_out', recipients: 3, unreachable: 1, progress: { miniprogram_subscribe: { queued: 2 }, inbox: { sent: 1 } } } },
    })
    expect(wrapper.get('[data-testid=announcement-status]').text()).toBe('正在发送')
    await wrapper.setProps({ announcement: { status: 'fanned_out', recipients: 3, unreachable: 1, progress: { miniprogram_subscribe: { sent: 2 }, inbox: { sent: 1 } } } })
    expect(wrapper.get('[data-testid=announcement-status]').text()).toBe('已发送')
    expect(wrapper.text()).toContain('接收 3 人，其中 1 人只能在站内信查看')
  })
})
