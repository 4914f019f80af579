import { afterEach, describe, expect, it, vi } from 'vitest'
import { call, configureAuth, createApi } from '@/api/client'
import { ApiError } from '@/api/errors'

function json(status: number, body: unknown) {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

describe('api client', () => {
  afterEach(() => configureAuth({ csrfToken: () => null, onUnauthorized: () => {}, onCsrfFailed: () => {} }))

  it('sends the CSRF token on writes only', async () => {
    const seen: Request[] = []
    const fetchImpl = vi.fn(async (input: Request) => { seen.push(input); return json(200, { ok: true }) })
    configureAuth({ csrfToken: () => 'tok-1' })
    const api = createApi(fetchImpl as unknown as typeof fetch)
    await call(api.GET('/api/v1/regions'))
    await call(api.POST('/api/v1/volunteers/{volunteer_id}/review', { params: { path: { volunteer_id: 5 } }, body: { decision: 'approve' } as never }))
    expect(seen[0].headers.get('X-CSRF-Token')).toBeNull()
    expect(seen[1].headers.get('X-CSRF-Token')).toBe('tok-1')
    expect(seen[1].credentials).toBe('same-origin')
    expect(new URL(seen[1].url).pathname).toBe('/api/v1/volunteers/5/review')
  })

  it('throws a typed ApiError with the API message and fields', async () => {
    const api = createApi((async () => json(422, { error: { code: 'validation_failed', message: '请检查', fields: { reason: '请填写理由' } } })) as unknown as typeof fetch)
    const error = await call(api.GET('/api/v1/regions')).catch((e) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error.code).toBe('validation_failed')
    expect(error.fields.reason).toBe('请填写理由')
  })

  it('calls the unauthorised handler on 401', async () => {
    const onUnauthorized = vi.fn()
    configureAuth({ onUnauthorized })
    const api = createApi((async () => json(401, { error: { code: 'unauthorized', message: '请先登录' } })) as unknown as typeof fetch)
    await expect(call(api.GET('/api/v1/regions'))).rejects.toMatchObject({ status: 401 })
    expect(onUnauthorized).toHaveBeenCalledOnce()
  })

  it('asks for the current CSRF token when the API refuses it', async () => {
    const onCsrfFailed = vi.fn()
    configureAuth({ onCsrfFailed })
    const api = createApi((async () => json(403, { error: { code: 'csrf_failed', message: '请刷新页面后重试' } })) as unknown as typeof fetch)
    await expect(call(api.GET('/api/v1/regions'))).rejects.toMatchObject({ code: 'csrf_failed' })
    expect(onCsrfFailed).toHaveBeenCalledOnce()
  })

  it('turns a network failure into a Chinese error', async () => {
    const api = createApi((async () => { throw new TypeError('Failed to fetch') }) as unknown as typeof fetch)
    await expect(call(api.GET('/api/v1/regions'))).rejects.toMatchObject({ code: 'network_error', message: '无法连接服务器，请检查网络后重试' })
  })
})
