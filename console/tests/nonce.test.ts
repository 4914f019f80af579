import { describe, expect, it } from 'vitest'
import { createNonceKeeper, mayHaveApplied, newNonce, sendOnce } from '@/lib/nonce'
import { ApiError } from '@/api/errors'

function counter() {
  let n = 0
  return () => `nonce-${String(++n).padStart(4, '0')}`
}

describe('nonces for idempotent writes', () => {
  it('makes nonces the API accepts', () => {
    const nonce = newNonce()
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{24}$/)
    expect(newNonce()).not.toBe(nonce)
  })

  it('reuses the nonce while the same action is retried, a new one for another body', () => {
    const keeper = createNonceKeeper(counter())
    const a = keeper.nonceFor('decision:7', { decision: 'approve' })
    expect(keeper.nonceFor('decision:7', { decision: 'approve' })).toBe(a)
    // key order of the body does not matter
    const b = keeper.nonceFor('correction:3', { reason: '迟到', minutes_delta: -10 })
    expect(keeper.nonceFor('correction:3', { minutes_delta: -10, reason: '迟到' })).toBe(b)
    // another body under the same key: a new action
    const c = keeper.nonceFor('decision:7', { decision: 'reject', reason: '名额已满' })
    expect(c).not.toBe(a)
    expect(keeper.nonceFor('decision:8', { decision: 'approve' })).not.toBe(a)
  })

  it('gives the next action a fresh nonce once one went through', () => {
    const keeper = createNonceKeeper(counter())
    const first = keeper.nonceFor('correction:3', { minutes_delta: 10, reason: '补录' })
    keeper.settle('correction:3')
    expect(keeper.nonceFor('correction:3', { minutes_delta: 10, reason: '补录' })).not.toBe(first)
  })

  it('keeps the nonce after a lost answer and drops it after a definite refusal', async () => {
    const keeper = createNonceKeeper(counter())
    const seen: string[] = []
    const lost = () => Promise.reject(new ApiError(0, 'network_error', '无法连接服务器'))
    await expect(sendOnce(keeper, 'k', { x: 1 }, (n) => { seen.push(n); return lost() })).rejects.toThrow()
    await expect(sendOnce(keeper, 'k', { x: 1 }, (n) => { seen.push(n); return Promise.reject(new ApiError(502, 'server_error', '服务器出错了')) })).rejects.toThrow()
    const answer = await sendOnce(keeper, 'k', { x: 1 }, (n) => { seen.push(n); return Promise.resolve('ok') })
    expect(answer).toBe('ok')
    expect(new Set(seen).size).toBe(1) // three tries of one action: one nonce
    await sendOnce(keeper, 'k', { x: 1 }, (n) => { seen.push(n); return Promise.resolve('again') })
    expect(seen[3]).not.toBe(seen[0]) // a new action after success
    await expect(sendOnce(keeper, 'k', { x: 2 }, (n) => { seen.push(n); return Promise.reject(new ApiError(409, 'conflict', '已处理')) })).rejects.toThrow()
    await sendOnce(keeper, 'k', { x: 2 }, (n) => { seen.push(n); return Promise.resolve('ok') })
    expect(seen[5]).not.toBe(seen[4]) // refused for good: the next try is a new action
  })

  it('tells which failures may have applied', () => {
    expect(mayHaveApplied(new ApiError(0, 'network_error', 'x'))).toBe(true)
    expect(mayHaveApplied(new ApiError(503, 'server_error', 'x'))).toBe(true)
    expect(mayHaveApplied(new ApiError(422, 'validation_failed', 'x'))).toBe(false)
    expect(mayHaveApplied(new Error('bug'))).toBe(true)
  })
})
