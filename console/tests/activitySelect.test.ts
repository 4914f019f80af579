import { describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'

// The activity pickers read the organisation's own list, one request per state that fits.
const urls: URL[] = []
vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
  const url = new URL(request.url)
  urls.push(url)
  const status = url.searchParams.get('status')
  const item = { id: status === 'draft' ? 1 : 2, title: `${status} 活动`, status, starts_at: '2026-12-10T01:00:00Z', ends_at: '2026-12-10T03:00:00Z',
    team: null, capacity: 10, seats_taken: 0, signed_up: 0, pending: 0, waitlisted: 0, checked_in: 0 }
  return new Response(JSON.stringify({ items: [item], next_cursor: null, total: 1, counts: {} }), { status: 200, headers: { 'Content-Type': 'application/json' } })
}))

describe('ActivitySelect', () => {
  it('asks GET /organizations/{id}/activities once per state and offers them all', async () => {
    const { default: ActivitySelect } = await import('@/components/ActivitySelect.vue')
    const wrapper = mount(ActivitySelect, { props: { organizationId: 3, statuses: ['draft', 'published'] } })
    await flushPromises()
    expect(urls.map((u) => u.pathname)).toEqual(['/api/v1/organizations/3/activities', '/api/v1/organizations/3/activities'])
    expect(urls.map((u) => u.searchParams.get('status'))).toEqual(['draft', 'published'])
    expect(urls.every((u) => u.searchParams.get('limit') === '100')).toBe(true)
    expect(urls.some((u) => u.pathname === '/api/v1/activities')).toBe(false)
    const vm = wrapper.vm as unknown as { $: { setupState: { options: { id: number }[] } } }
    expect(vm.$.setupState.options.map((o) => o.id)).toEqual([1, 2])
    wrapper.unmount()
  })
})
