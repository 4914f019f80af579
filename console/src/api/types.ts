// Shapes the console relies on that the contract fixes. Where the generated schema (schema.d.ts) names
// the same thing, prefer the generated type; these stay for the endpoints built on other branches.

export type ScopeRole = 'organizer' | 'captain' | 'admin'

export interface ConsoleScope {
  key: string
  role: ScopeRole
  label: string
  organization: { id: number; name: string } | null
  team: { id: number; name: string; organization_id: number } | null
  region: { id: number; name: string; level: string } | null
}

export interface ConsoleMe {
  account_id: number
  display_name: string
  csrf_token: string
  session_expires_at: string
  scopes: ConsoleScope[]
}

/** The paging convention of every management list: keyset, never OFFSET. */
export interface Page<T> {
  items: T[]
  next_cursor: string | null
  total: number
}

export interface ErrorBodyShape {
  error: {
    code: string
    message: string
    fields?: Record<string, string> | null
    context?: Record<string, unknown> | null
  }
}
