import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import { defineComponent, type Component } from 'vue'

// The login page against a scripted API: scan flow (ticket → pending → confirmed), expiry, login link.
const calls: { method: string; path: string }[] = []
let script: Record<string, () => Response>

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

const me = {
  account_id: 1, display_name: '王组织', csrf_token: 'csrf-1', session_expires_at: '2026-12-04T20:00:00Z',
  scopes: [{ key: 'organizer:org:1', role: 'organizer', label: '甲 · 组织者', organization: { id: 1, name: '甲' }, team: null, region: null }],
}

vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
  const path = new URL(request.url).pathname
  calls.push({ method: request.method, path })
  const key = `${request.method} ${path}`
  const handler = script[key]
  return handler ? handler() : json(404, { error: { code: 'not_found', message: '没有' } })
}))

const mounted: { unmount: () => void }[] = []
let LoginPage: Component

// The page (with its Element Plus parts) is compiled on first import, which takes seconds on a busy
// machine: done once here, under the hook's own limit, so no test's five seconds are spent on it.
beforeAll(async () => {
  LoginPage = (await import('@/pages/LoginPage.vue')).default
}, 60_000)

async function mountLogin(query = '') {
  const Home = defineComponent({ template: '<div>home</div>' })
  const router = createRouter({
    history: createMemoryHistory('/console/'),
    routes: [
      { path: '/login', name: 'login', component: LoginPage },
      { path: '/workbench', component: Home },
      { path: '/volunteers', component: Home },
    ],
  })
  await router.push(`/login${query}`)
  await router.isReady()
  const wrapper = mount({ template: '<router-view />' }, { global: { plugins: [router] } })
  mounted.push(wrapper)
  await flushPromises()
  return { wrapper, router }
}

const ticket = () => json(201, { ticket: 'T1', qr_png_base64: 'iVBORw0KGgo=', expires_at: new Date(Date.now() + 120_000).toISOString(), poll_after_ms: 1000 })

describe('LoginPage', () => {
  beforeEach(() => {
    calls.length = 0
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
  })
  afterEach(() => {
    mounted.splice(0).forEach((w) => w.unmount())
    vi.useRealTimers()
  })

  it('shows the code, polls, and signs in when the mini-program confirms', async () => {
    let confirmed = false
    script = {
      'POST /api/v1/console/sessions': ticket,
      'GET /api/v1/console/sessions/T1': () => json(200, confirmed ? { status: 'confirmed', me } : { status: 'pending' }),
    }
    const { wrapper, router } = await mountLogin('?redirect=/volunteers')
    expect(wrapper.find('[data-test=login-qr] img').attributes('src')).toBe('data:image/png;base64,iVBORw0KGgo=')
    expect(wrapper.find('[data-test=countdown]').text()).toBe('2:00')
    await vi.advanceTimersByTimeAsync(1000)
    expect(calls.filter((c) => c.path === '/api/v1/console/sessions/T1')).toHaveLength(1)
    confirmed = true
    await vi.advanceTimersByTimeAsync(1000)
    await flushPromises()
    expect(router.currentRoute.value.path).toBe('/volunteers')
    const { session } = await import('@/stores/session')
    expect(session.me?.csrf_token).toBe('csrf-1')
  })

  it('offers a new code when the ticket expires', async () => {
    script = {
      'POST /api/v1/console/sessions': ticket,
      'GET /api/v1/console/sessions/T1': () => json(410, { error: { code: 'login_ticket_expired', message: '二维码已过期' } }),
    }
    const { wrapper } = await mountLogin()
    await vi.advanceTimersByTimeAsync(1000)
    await flushPromises()
    const refresh = wrapper.find('[data-test=refresh-qr]')
    expect(refresh.text()).toContain('二维码已过期')
    // Counted from the click: one click asks for exactly one new code.
    const tickets = () => calls.filter((c) => c.method === 'POST' && c.path === '/api/v1/console/sessions').length
    const before = tickets()
    await refresh.trigger('click')
    await flushPromises()
    expect(tickets()).toBe(before + 1)
    expect(wrapper.find('[data-test=refresh-qr]').exists()).toBe(false)
  })

  it('logs in by a one-time link without asking for a code', async () => {
    script = { 'POST /api/v1/console/login-links/L1': () => json(200, me) }
    const { router } = await mountLogin('?link=L1')
    await flushPromises()
    expect(calls).toEqual([{ method: 'POST', path: '/api/v1/console/login-links/L1' }])
    expect(router.currentRoute.value.path).toBe('/workbench')
  })

  it('falls back to the code with the API message when the link is used up', async () => {
    script = {
      'POST /api/v1/console/login-links/L2': () => json(404, { error: { code: 'login_link_invalid', message: '登录链接无效或已过期' } }),
      'POST /api/v1/console/sessions': ticket,
    }
    const { wrapper, router } = await mountLogin('?link=L2')
    await flushPromises()
    expect(wrapper.text()).toContain('登录链接无效或已过期')
    expect(wrapper.find('[data-test=login-qr] img').exists()).toBe(true)
    expect(router.currentRoute.value.query.link).toBeUndefined()
  })
})
