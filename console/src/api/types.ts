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
  /** Star applications waiting for this admin's review (the 星级评定 menu's badge). */
  star_reviews_pending?: number
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

// --- Shapes of the management API (README "Lists"; handlers/volunteers.py, organizations.py, teams.py,
// regions.py). Pages cast answers of endpoints that the generated schema may not have yet to these.

export interface RegionRef { id: number; name: string }
export interface NamedRef { id: number; name: string }

export interface DirectoryItem {
  id: number
  real_name: string
  mobile: string | null
  gender: string | null
  age: number | null
  categories: string[]
  skills: string[]
  region: RegionRef
  status: string
  total_service_minutes: number
  service_record_count: number
  created_at: string
}

export interface VolunteerDetail extends DirectoryItem {
  id_number: string | null
  guardian_name: string | null
  guardian_mobile: string | null
  rejection_reason: string | null
  suspension_reason: string | null
  suspended_at: string | null
  reviewed_at: string | null
  signups: {
    total: number
    recent: { id: number; activity_id: number; activity_title: string; starts_at: string; ends_at: string; status: string; service_minutes: number }[]
  }
  service: {
    total_minutes: number
    total_hours: number
    record_count: number
    recent: { id: number; activity_id: number; activity_title: string; kind: string; minutes: number; created_at: string }[]
  }
  teams: { id: number; name: string; organization_id: number; since: string }[]
}

export type OrganizationView = AnswerOf<'/api/v1/organizations/{organization_id}'>

export interface CaptainView { account_id: number; volunteer_id: number | null; name: string | null }

export interface TeamView {
  id: number
  organization: NamedRef
  name: string
  kind: string
  kind_label: string
  join_mode: string
  member_count: number
  captains: CaptainView[]
  created_at: string
}

export type MembershipView = AnswerOf<'/api/v1/teams/{team_id}/members'>['items'][number]

export interface NumberedPage<T> { items: T[]; total: number; page: number; per_page: number }

export interface RegionItem { id: number; code: string; name: string; level: string; parent_id: number | null }

export interface RegionNode extends RegionItem {
  retired: boolean
  population: number | null
  children: RegionNode[]
}

// --- Types read from the generated OpenAPI document (schema.d.ts), by path and method.
import type { paths } from './schema'

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>
type Json<R> = R extends { content: { 'application/json': infer T } } ? T : never

/** The query parameters of an operation. */
export type QueryOf<P extends keyof paths, M extends Method = 'get'> =
  NonNullable<Operation<P, M> extends { parameters: { query?: infer Q } } ? Q : never>
/** The JSON body of an operation. */
export type BodyOf<P extends keyof paths, M extends Method = 'post'> =
  Operation<P, M> extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never
/** The JSON answer (200 or 201) of an operation. */
export type AnswerOf<P extends keyof paths, M extends Method = 'get'> =
  Operation<P, M> extends { responses: infer R }
    ? R extends { 200: infer OK } ? Json<OK> : R extends { 201: infer C } ? Json<C> : never
    : never
