import createClient, { type Middleware } from 'openapi-fetch'
import type { paths } from './schema'
import { ApiError, networkError, toApiError } from './errors'

// One client for the whole console, typed by the OpenAPI document (`npm run gen:api`). The document's
// paths carry the /api/v1 prefix, so calls name it: api.GET('/api/v1/volunteers', ...).
export const API_BASE = '/api/v1'

interface AuthHooks {
  csrfToken: () => string | null
  onUnauthorized: (error: ApiError) => void
  /** The session's CSRF token was refused (e.g. a new login in another tab): fetch the current one. */
  onCsrfFailed: (error: ApiError) => void
}

const hooks: AuthHooks = { csrfToken: () => null, onUnauthorized: () => {}, onCsrfFailed: () => {} }

/** Wire the session in: where the CSRF token comes from, what to do on 401 (route to the login page). */
export function configureAuth(next: Partial<AuthHooks>): void {
  Object.assign(hooks, next)
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export const csrfMiddleware: Middleware = {
  onRequest({ request }) {
    if (!SAFE_METHODS.has(request.method.toUpperCase())) {
      const token = hooks.csrfToken()
      if (token) request.headers.set('X-CSRF-Token', token)
    }
    return request
  },
}

export function createApi(fetchImpl?: typeof fetch) {
  const client = createClient<paths>({
    baseUrl: typeof window !== 'undefined' && window.location ? window.location.origin : '',
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  })
  client.use(csrfMiddleware)
  return client
}

export const api = createApi()

type FetchResult<T> = { data?: T; error?: unknown; response: Response }

/**
 * Await a typed call and return its data, or throw an ApiError carrying the API's code, Chinese
 * message and field errors. A 401 also calls the session's handler (which routes to the login page).
 */
export async function call<T>(request: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>
  try {
    result = await request
  } catch (error) {
    if (error instanceof ApiError) throw error
    throw networkError()
  }
  const { data, error, response } = result
  if (response.ok) return data as T
  const apiError = toApiError(response.status, error)
  if (response.status === 401) hooks.onUnauthorized(apiError)
  else if (apiError.code === 'csrf_failed') hooks.onCsrfFailed(apiError)
  throw apiError
}

/** A link the browser opens itself (downloads such as the XLSX export), with the query built for it. */
export function apiHref(path: string, query: Record<string, unknown> = {}): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    params.set(key, String(value))
  }
  const qs = params.toString()
  return `${path}${qs ? `?${qs}` : ''}`
}
