import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'

// The projected check-in screen against a scripted API: board polled every second through failures,
// the rotating code fetched again just after it runs out.
type Handler = (url: URL) => Response | Promise<Response>
const state: { handler: Handler; calls: string[] } = { handler: () => new Response(null, { status: 500 }), calls: [] }

vi.mock('vue-router', () => ({ useRoute: () => ({ params: { id: '7' }, query: {} }) }))
vi.mock('@/api/client', async (importOriginal) => {
  const real = await importOriginal<typeof import('@/api/client')>()
  const fetchImpl = async (input: Request) => {
    const url = new URL(input.url)
    state.calls.push(url.pathname)
    return state.handler(url)
  }
  return { ...real, api: real.createApi(fetchImpl as unknown as typeof fetch) }
})

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function board(present: number) {
  return {
    activity: { id: 7, title: '社区义诊', starts_at: '2026-12-05T01:00:00Z', ends_at: '2026-12-05T03:00:00Z', status: 'ongoing' },
    signed_up: 12, checked_in: present, present, checked_out: 0,
    latest: present ? [{ checkin_id: 1, name: '李*丽', checked_in_at: '2026-12-05T01:05:00Z', checked_out_at: null }] : [],
    as_of: '2026-12-05T01:05:01Z',
  }
}

describe('签到大屏', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
    state.calls = []
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('polls the board every second, keeps going through failures and shows the note', async () => {
    let present = 0
    let failing = false
    let token = 0
    state.handler = (url) => {
      if (url.pathname.endsWith('/display-code')) return json({ token: `t${++token}`, link: 'x', seconds_left: 30, qr_png_base64: 'AAAA' })
      if (failing) return new Response(null, { status: 502 })
      return json(board(present))
    }
    const { default: Screen } = await import('@/pages/ActivityScreenPage.vue')
    const wrapper = mount(Screen)
    await flushPromises()
    expect(wrapper.get('[data-testid=screen-present]').text()).toBe('0')
    expect(wrapper.get('[data-testid=screen-signed-up]').text()).toBe('12')

    present = 1
    await vi.advanceTimersByTimeAsync(1000)
    expect(wrapper.get('[data-testid=screen-present]').text()).toBe('1')
    expect(wrapper.get('[data-testid=screen-latest]').text()).toContain('李*丽')

    failing = true
    await vi.advanceTimersByTimeAsync(2000)
    expect(wrapper.find('[data-testid=screen-connection]').exists()).toBe(true)
    expect(wrapper.text()).toContain('连接中断，正在重试')
    expect(wrapper.get('[data-testid=screen-present]').text()).toBe('1') // the last figures stay

    failing = false
    present = 2
    await vi.advanceTimersByTimeAsync(1000)
    expect(wrapper.find('[data-testid=screen-connection]').exists()).toBe(false)
    expect(wrapper.get('[data-testid=screen-present]').text()).toBe('2')
    wrapper.unmount()
  })

  it('shows a refusal as final: the API\'s message, no retry note, no more polling', async () => {
    const refusal = { error: { code: 'not_activity_manager', message: '只有本活动的组织者或所属队伍的队长可以查看签到大屏' } }
    state.handler = () => json(refusal, 403)
    const { default: Screen } = await import('@/pages/ActivityScreenPage.vue')
    const wrapper = mount(Screen)
    await flushPromises()
    await vi.advanceTimersByTimeAsync(3000)
    expect(wrapper.text()).toContain(refusal.error.message)
    expect(wrapper.find('[data-testid=screen-connection]').exists()).toBe(false)
    expect(wrapper.find('[data-testid=screen-present]').exists()).toBe(false)
    expect(state.calls.filter((c) => c.endsWith('/checkin-board'))).toHaveLength(1)
    wrapper.unmount()
  })

  it('counts the code down and fetches the next one just after it rotates', async () => {
    let token = 0
    state.handler = (url) => {
      if (url.pathname.endsWith('/display-code')) return json({ token: `t${++token}`, link: 'x', seconds_left: 3, qr_png_base64: 'AAAA' })
      return json(board(0))
    }
    const { default: Screen } = await import('@/pages/ActivityScreenPage.vue')
    const wrapper = mount(Screen)
    await flushPromises()
    expect(wrapper.get('[data-testid=screen-qr]').attributes('data-token')).toBe('t1')
    expect(wrapper.get('[data-testid=screen-countdown]').text()).toContain('3')
    await vi.advanceTimersByTimeAsync(2000)
    expect(wrapper.get('[data-testid=screen-countdown]').text()).toContain('1')
    await vi.advanceTimersByTimeAsync(1500)
    expect(wrapper.get('[data-testid=screen-qr]').attributes('data-token')).toBe('t2')
    expect(state.calls.filter((c) => c.endsWith('/display-code'))).toHaveLength(2)
    wrapper.unmount()
    const before = state.calls.length
    await vi.advanceTimersByTimeAsync(5000)
    expect(state.calls.length).toBe(before) // nothing polls after the screen is closed
  })
})
