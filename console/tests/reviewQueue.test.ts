import { beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { setErrorNotifier } from '@/api/feedback'

// The review queue against a scripted API: several approved at once (one refused with its own reason),
// a rejection whose reason the API refuses shows the API's message under the reason field.
const requests: { method: string; path: string; body: unknown }[] = []
const pending = [1, 2, 3].map((id) => ({
  id, real_name: `李*${id}`, mobile: `138****000${id}`, gender: null, age: 30, categories: [], skills: [],
  region: { id: 9, name: '幸福社区' }, status: 'pending', total_service_minutes: 0, service_record_count: 0,
  created_at: '2026-12-01T02:00:00Z',
}))

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
  const path = new URL(request.url).pathname
  const body = request.method === 'GET' ? null : await request.json()
  requests.push({ method: request.method, path, body })
  if (request.method === 'GET') return json(200, { items: pending, next_cursor: null, total: pending.length })
  if (path.endsWith('/2/review')) return json(409, { error: { code: 'already_reviewed', message: '该注册已审核过' } })
  if ((body as { decision: string }).decision === 'reject') {
    return json(422, { error: { code: 'validation_failed', message: '请求内容有误', fields: { reason: '驳回原因不能超过200字' } } })
  }
  return json(200, { id: 1 })
}))

describe('ReviewQueue', () => {
  const toasts: string[] = []
  beforeEach(() => {
    requests.length = 0
    toasts.length = 0
    setErrorNotifier((m) => toasts.push(m))
  })

  it('approves the selected rows one by one and says which one was refused and why', async () => {
    const { default: ReviewQueue } = await import('@/pages/volunteers/ReviewQueue.vue')
    const wrapper = mount(ReviewQueue, { attachTo: document.body, global: { stubs: { transition: false, 'transition-group': false } } })
    await flushPromises()
    expect(wrapper.findAll('.el-table__body tr')).toHaveLength(3)
    for (const box of wrapper.findAll('.el-table__body .el-checkbox input')) await box.setValue(true)
    await wrapper.find('[data-test=bulk-approve]').trigger('click')
    await flushPromises()
    const reviews = requests.filter((r) => r.method === 'POST')
    expect(reviews.map((r) => r.path)).toEqual(['/api/v1/volunteers/1/review', '/api/v1/volunteers/2/review', '/api/v1/volunteers/3/review'])
    expect(reviews[0].body).toEqual({ decision: 'approve', reason: null })
    expect(toasts).toEqual(['1 人未能通过：李*2：该注册已审核过'])
    expect(requests.filter((r) => r.method === 'GET')).toHaveLength(2)
    wrapper.unmount()
  })

  it('shows the API error on the reason field of a single rejection', async () => {
    const { default: ReviewQueue } = await import('@/pages/volunteers/ReviewQueue.vue')
    const wrapper = mount(ReviewQueue, { attachTo: document.body, global: { stubs: { transition: false, 'transition-group': false } } })
    await flushPromises()
    await wrapper.find('[data-test=reject]').trigger('click')
    await flushPromises()
    const textarea = document.querySelector('textarea[data-test=reason-input]') as HTMLTextAreaElement
    textarea.value = '资料不全'
    textarea.dispatchEvent(new Event('input'))
    await flushPromises()
    ;(document.querySelector('[data-test=reason-confirm]') as HTMLButtonElement).click()
    await flushPromises()
    expect(requests.at(-1)).toMatchObject({ method: 'POST', path: '/api/v1/volunteers/1/review', body: { decision: 'reject', reason: '资料不全' } })
    // Element Plus shows a form item's error after a short debounce.
    await new Promise((resolve) => setTimeout(resolve, 250))
    const item = document.querySelector('textarea[data-test=reason-input]')!.closest('.el-form-item')!
    expect(item.classList.contains('is-error')).toBe(true)
    expect(item.querySelector('.el-form-item__error')?.textContent?.trim()).toBe('驳回原因不能超过200字')
    expect(toasts).toEqual([])
    wrapper.unmount()
  })
})
