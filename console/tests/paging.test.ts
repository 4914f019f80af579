import { describe, expect, it } from 'vitest'
import { cleanQuery, filtersToQuery, queryToFilters, useKeysetList, usePagedList } from '@/lib/paging'
import type { Page } from '@/api/types'

function deferred<T>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => { resolve = r })
  return { promise, resolve }
}

describe('cleanQuery', () => {
  it('drops empty filters', () => {
    expect(cleanQuery({ q: '', status: 'approved', team_id: null, skill: undefined, tags: [], limit: 0 }))
      .toEqual({ status: 'approved', limit: 0 })
  })
})

describe('useKeysetList', () => {
  it('loads the first page, then appends the next by cursor', async () => {
    const cursors: (string | null)[] = []
    const list = useKeysetList<number>(async (cursor) => {
      cursors.push(cursor)
      return cursor === null ? { items: [1, 2], next_cursor: 'c2', total: 3 } : { items: [3], next_cursor: null, total: 3 }
    })
    await list.reload()
    expect(list.items).toEqual([1, 2])
    expect(list.hasMore).toBe(true)
    await list.loadMore()
    expect(list.items).toEqual([1, 2, 3])
    expect(list.hasMore).toBe(false)
    await list.loadMore()
    expect(cursors).toEqual([null, 'c2'])
    await list.reload()
    expect(list.items).toEqual([1, 2])
  })

  it('drops an answer that a newer reload overtook', async () => {
    const first = deferred<Page<string>>()
    const second = deferred<Page<string>>()
    const answers = [first, second]
    const list = useKeysetList<string>(() => answers.shift()!.promise)
    const a = list.reload()
    const b = list.reload()
    second.resolve({ items: ['new'], next_cursor: null, total: 1 })
    await b
    first.resolve({ items: ['old'], next_cursor: 'x', total: 9 })
    await a
    expect(list.items).toEqual(['new'])
    expect(list.total).toBe(1)
    expect(list.loading).toBe(false)
  })

  it('keeps the items and reports the error when a page fails', async () => {
    const errors: unknown[] = []
    let fail = false
    const list = useKeysetList<number>(async () => {
      if (fail) throw new Error('boom')
      return { items: [1], next_cursor: 'n', total: 2 }
    }, (e) => errors.push(e))
    await list.reload()
    fail = true
    await list.loadMore()
    expect(list.items).toEqual([1])
    expect(errors).toHaveLength(1)
    expect(list.loading).toBe(false)
  })
})

describe('filters in the address bar', () => {
  const defaults = { q: '', status: 'approved', team_id: null as number | null, sort: '-created_at' }
  it('leaves out empty filters and defaults', () => {
    expect(filtersToQuery({ q: '李', status: 'approved', team_id: 5, sort: '-created_at' }, defaults)).toEqual({ q: '李', team_id: '5' })
  })
  it('reads them back with ids as numbers and ignores junk', () => {
    expect(queryToFilters({ q: '李', team_id: '5', status: 'suspended', other: 'x' }, defaults))
      .toEqual({ q: '李', status: 'suspended', team_id: 5, sort: '-created_at' })
    expect(queryToFilters({ team_id: 'abc' }, defaults).team_id).toBeNull()
    expect(queryToFilters({}, defaults)).toEqual(defaults)
  })
})

describe('usePagedList', () => {
  it('reads the current page with its size into rows and total', async () => {
    const asked: [number, number][] = []
    const list = usePagedList<string>(async (page, perPage) => {
      asked.push([page, perPage])
      return { items: [`p${page}`], total: 41 }
    }, 20)
    expect(list.perPage).toBe(20)
    await list.load()
    expect(list.rows.value).toEqual(['p1'])
    expect(list.total.value).toBe(41)
    list.page.value = 3
    await list.load()
    expect(list.rows.value).toEqual(['p3'])
    expect(asked).toEqual([[1, 20], [3, 20]])
    expect(list.loading.value).toBe(false)
  })

  it('keeps the rows and reports a failed read', async () => {
    const errors: unknown[] = []
    let fail = false
    const list = usePagedList<number>(async () => {
      if (fail) throw new Error('down')
      return { items: [1, 2], total: 2 }
    }, 50, (error) => errors.push(error))
    await list.load()
    fail = true
    const pending = list.load()
    expect(list.loading.value).toBe(true)
    await pending
    expect(list.rows.value).toEqual([1, 2])
    expect(errors).toHaveLength(1)
    expect(list.loading.value).toBe(false)
  })
})
