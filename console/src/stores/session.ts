import { computed, reactive } from 'vue'
import { api, call, configureAuth } from '@/api/client'
import type { ConsoleMe, ConsoleScope } from '@/api/types'
import { chooseScope } from '@/lib/menu'

// The signed-in account, held in memory only (the session itself is an HttpOnly cookie). The CSRF token
// comes from ConsoleMe and goes on every write. The chosen scope is remembered per browser.
const SCOPE_STORAGE_KEY = 'console.scope'

interface SessionState {
  me: ConsoleMe | null
  scopeKey: string | null
  checked: boolean
}

export const session = reactive<SessionState>({ me: null, scopeKey: readRememberedScope(), checked: false })

export const currentScope = computed<ConsoleScope | null>(() =>
  session.me ? chooseScope(session.me.scopes, session.scopeKey) : null)

function readRememberedScope(): string | null {
  try {
    return globalThis.localStorage?.getItem(SCOPE_STORAGE_KEY) ?? null
  } catch {
    return null
  }
}

export function setScope(key: string): void {
  session.scopeKey = key
  try {
    globalThis.localStorage?.setItem(SCOPE_STORAGE_KEY, key)
  } catch {
    /* private mode: remember for this tab only */
  }
}

export function setMe(me: ConsoleMe): void {
  session.me = me
  session.checked = true
}

export function clearSession(): void {
  session.me = null
  session.checked = true
}

/** Ask the API who is signed in; null when nobody is (401). */
export async function loadMe(): Promise<ConsoleMe | null> {
  try {
    const me = (await call(api.GET('/api/v1/console/me')))
    setMe(me)
    return me
  } catch (error) {
    clearSession()
    if ((error as { status?: number }).status === 401) return null
    throw error
  }
}

/** Read ConsoleMe again (the menu's badges after a review); a failure keeps what is held, nobody is signed out. */
export async function refreshMe(): Promise<void> {
  try {
    setMe(await call(api.GET('/api/v1/console/me')))
  } catch {
    /* the next page load reads it again */
  }
}

/** End the session on the server; the caller leaves the signed-in pages, then clears what is held here. */
export async function endSession(): Promise<void> {
  await call(api.DELETE('/api/v1/console/session'))
}

/**
 * Sign out: end the session on the server (a failure goes to `onError`), leave the signed-in pages
 * first, so none of them reloads for a session that is gone, then clear what is held here.
 */
export async function signOut(leave: () => Promise<unknown>, onError: (error: unknown) => void): Promise<void> {
  try {
    await endSession()
  } catch (error) {
    onError(error)
  }
  await leave()
  clearSession()
}

configureAuth({
  csrfToken: () => session.me?.csrf_token ?? null,
  // The API's message asks to retry; by then the token is the session's current one.
  onCsrfFailed: () => {
    if (session.me) void loadMe().catch(() => {})
  },
})
