import { messageOf } from '@/api/errors'

export interface BatchResult<T> {
  done: T[]
  failed: { item: T; message: string }[]
}

/**
 * Run one API action per selected row, one after another (the API has no batch endpoint for these and
 * each answer carries its own Chinese reason); collect what went through and what did not.
 */
export async function runBatch<T>(items: readonly T[], action: (item: T) => Promise<unknown>): Promise<BatchResult<T>> {
  const result: BatchResult<T> = { done: [], failed: [] }
  for (const item of items) {
    try {
      await action(item)
      result.done.push(item)
    } catch (error) {
      result.failed.push({ item, message: messageOf(error) })
    }
  }
  return result
}

/** "已通过 3 人" / "2 人未能通过：李*：已审核过；…" */
export function summarizeBatch<T>(result: BatchResult<T>, verb: string, name: (item: T) => string): { ok: string | null; error: string | null } {
  return {
    ok: result.done.length ? `已${verb} ${result.done.length} 人` : null,
    error: result.failed.length
      ? `${result.failed.length} 人未能${verb}：${result.failed.map((f) => `${name(f.item)}：${f.message}`).join('；')}`
      : null,
  }
}
