import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/errors'
import { runBatch, summarizeBatch } from '@/lib/batch'

describe('runBatch', () => {
  it('runs every item and keeps the API reason of each failure', async () => {
    const seen: number[] = []
    const result = await runBatch([1, 2, 3], async (n) => {
      seen.push(n)
      if (n === 2) throw new ApiError(409, 'already_reviewed', '该注册已审核过')
    })
    expect(seen).toEqual([1, 2, 3])
    expect(result.done).toEqual([1, 3])
    expect(result.failed).toEqual([{ item: 2, message: '该注册已审核过' }])
    expect(summarizeBatch(result, '通过', (n) => `#${n}`)).toEqual({ ok: '已通过 2 人', error: '1 人未能通过：#2：该注册已审核过' })
  })

  it('says nothing for what did not happen', async () => {
    const result = await runBatch([], async () => {})
    expect(summarizeBatch(result, '驳回', String)).toEqual({ ok: null, error: null })
  })
})
