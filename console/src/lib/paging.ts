import { reactive, ref, type Ref } from 'vue'
import type { Page } from '@/api/types'

/** Query parameters without the empty ones (an empty filter means "any"). */
export function cleanQuery<T extends Record<string, unknown>>(query: T): Partial<T> {
  const out: Partial<T> = {}
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    if (Array.isArray(value) && value.length === 0) continue
    ;(out as Record<string, unknown>)[key] = value
  }
  return out
}

export interface KeysetList<T> {
  items: T[]
  total: number
  nextCursor: string | null
  loading: boolean
  loaded: boolean
  error: unknown
  readonly hasMore: boolean
  reload(): Promise<void>
  loadMore(): Promise<void>
}

/**
 * A list read page by page over the API's keyset convention: `reload()` starts from the first page
 * (filters changed), `loadMore()` appends the page after `next_cursor` ("加载更多"). An answer that
 * arrives after a newer reload is dropped, so quick filter changes never mix two lists.
 */
export function useKeysetList<T>(fetchPage: (cursor: string | null) => Promise<Page<T>>,
  onError?: (error: unknown) => void): KeysetList<T> {
  let generation = 0
  const state = reactive({
    items: [] as T[],
    total: 0,
    nextCursor: null as string | null,
    loading: false,
    loaded: false,
    error: null as unknown,
    get hasMore(): boolean {
      return state.nextCursor !== null
    },
    async reload() {
      const mine = ++generation
      state.error = null
      await read(mine, null)
    },
    async loadMore() {
      if (state.loading || state.nextCursor === null) return
      await read(generation, state.nextCursor)
    },
  })
  /** One page after `cursor` (the first when null), appended to the list unless it is the first. */
  async function read(mine: number, cursor: string | null) {
    state.loading = true
    try {
      const page = await fetchPage(cursor)
      if (mine !== generation) return
      state.items = (cursor === null ? page.items : [...(state.items as T[]), ...page.items]) as never
      state.total = page.total
      state.nextCursor = page.next_cursor
      if (cursor === null) state.loaded = true
    } catch (error) {
      if (mine !== generation) return
      state.error = error
      onError?.(error)
    } finally {
      if (mine === generation) state.loading = false
    }
  }
  return state as unknown as KeysetList<T>
}

export interface PagedList<T> {
  page: Ref<number>
  perPage: number
  rows: Ref<T[]>
  total: Ref<number>
  loading: Ref<boolean>
  load(): Promise<void>
}

/**
 * A list read by page number (`page`/`per_page`, an el-pagination under a table): `load()` reads the
 * current page into `rows` and `total`; a failed read keeps the rows and goes to `onError`.
 */
export function usePagedList<T>(fetchPage: (page: number, perPage: number) => Promise<{ items: T[]; total: number }>,
  perPage: number, onError?: (error: unknown) => void): PagedList<T> {
  const page = ref(1)
  const rows = ref<T[]>([]) as Ref<T[]>
  const total = ref(0)
  const loading = ref(false)
  async function load() {
    loading.value = true
    try {
      const answer = await fetchPage(page.value, perPage)
      rows.value = answer.items
      total.value = answer.total
    } catch (error) {
      onError?.(error)
    } finally {
      loading.value = false
    }
  }
  return { page, perPage, rows, total, loading, load }
}

type FilterValue = string | number | null

/**
 * Filters into the address bar and back, so a filtered list can be bookmarked or shared (numbers stay
 * numbers; empty filters and defaults are left out).
 */
export function filtersToQuery(filters: Record<string, FilterValue>, defaults: Record<string, FilterValue> = {}): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(filters)) {
    if (value === null || value === '' || value === defaults[key]) continue
    out[key] = String(value)
  }
  return out
}

export function queryToFilters<T extends Record<string, FilterValue>>(query: Record<string, unknown>, defaults: T): T {
  const out = { ...defaults }
  for (const key of Object.keys(defaults) as (keyof T & string)[]) {
    const raw = Array.isArray(query[key]) ? (query[key] as unknown[])[0] : query[key]
    if (typeof raw !== 'string' || raw === '') continue
    const fallback = defaults[key]
    if (typeof fallback === 'number' || (fallback === null && key.endsWith('_id'))) {
      const n = Number(raw)
      if (Number.isInteger(n) && n > 0) (out as Record<string, FilterValue>)[key] = n
    } else {
      (out as Record<string, FilterValue>)[key] = raw
    }
  }
  return out
}
