import { describe, expect, it, vi } from 'vitest'
import type { ConsoleMe } from '@/api/types'

// Signing out: the session ends on the server, the caller leaves the signed-in pages, then the account
// held in memory is cleared (also when the server could not be reached).
const me = {
  account_id: 1, display_name: '王组织', csrf_token: 'csrf-1', session_expires_at: '2026-12-04T20:00:00Z', scopes: [],
} as unknown as ConsoleMe

let answer: (request: Request) => Promise<Response>
vi.stubGlobal('fetch', vi.fn((request: Request) => answer(request)))

describe('signOut', () => {
  it('ends the session, leaves, then clears the account', async () => {
    const { session, setMe, signOut } = await import('@/stores/session')
    const steps: string[] = []
    answer = async (request) => {
      steps.push(`${request.method} ${new URL(request.url).pathname}`)
      return new Response(null, { status: 204 })
    }
    setMe(me)
    const errors: unknown[] = []
    await signOut(async () => { steps.push(`leave with ${session.me ? 'account' : 'nobody'}`) }, (e) => errors.push(e))
    expect(steps).toEqual(['DELETE /api/v1/console/session', 'leave with account'])
    expect(session.me).toBeNull()
    expect(errors).toEqual([])
  })

  it('reports a failed sign-out and still leaves and clears', async () => {
    const { session, setMe, signOut } = await import('@/stores/session')
    answer = async () => { throw new TypeError('offline') }
    setMe(me)
    const errors: unknown[] = []
    const leave = vi.fn(async () => {})
    await signOut(leave, (e) => errors.push(e))
    expect(errors).toHaveLength(1)
    expect(leave).toHaveBeenCalledOnce()
    expect(session.me).toBeNull()
  })
})
