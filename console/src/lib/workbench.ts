// The workbench's answers (GET /console/workbench, /console/trends) made into what the page draws.
// Written against the contract; tolerant of the few spellings a list or a map of counts may take.

export interface AttentionItem {
  key: string
  label: string
  count: number
  /** Where the console handles it (a route with its query), null when no page does yet. */
  to: { path: string; query?: Record<string, string> } | null
  hint?: string
}

export interface ActivityLine {
  id: number
  title: string
  starts_at: string
  ends_at: string | null
  status: string
  signed_up: number | null
  capacity: number | null
  place: string | null
  organization: string | null
  team: string | null
  checked_in: number | null
  pending: number | null
  waitlisted: number | null
}

export interface FestivalLine { day: string; name: string; theme: string | null }

export interface Workbench {
  attention: AttentionItem[]
  today: ActivityLine[]
  upcoming: ActivityLine[]
  festivals: FestivalLine[]
  quarter: string | null
}

export interface TrendPoint {
  week: string
  signups: number
  hours: number
}

const KNOWN: Record<string, { label: string; to: AttentionItem['to']; hint?: string }> = {
  pending_volunteers: { label: '待审核的志愿者注册', to: { path: '/volunteers', query: { tab: 'review' } } },
  pending_registrations: { label: '待审核的志愿者注册', to: { path: '/volunteers', query: { tab: 'review' } } },
  organization_applications: { label: '待审核的组织申请', to: { path: '/organizations', query: { tab: 'applications' } } },
  pending_organizations: { label: '待审核的组织申请', to: { path: '/organizations', query: { tab: 'applications' } } },
  signup_approvals: { label: '待审批的活动报名', to: { path: '/activities', query: { attention: 'signups' } } },
  pending_signups: { label: '待审批的活动报名', to: { path: '/activities', query: { attention: 'signups' } } },
  join_requests: { label: '待处理的入队申请', to: { path: '/organizations', query: { tab: 'teams' } } },
  open_corrections: { label: '待处理的时长更正申请', to: { path: '/activities', query: { attention: 'corrections' } } },
  checkouts_to_review: { label: '忘记签退待复核', to: { path: '/activities', query: { attention: 'checkouts' } } },
  correction_requests: { label: '待处理的时长更正申请', to: { path: '/activities', query: { attention: 'corrections' } } },
  forgotten_checkouts: { label: '忘记签退待复核', to: { path: '/activities', query: { attention: 'checkouts' } } },
  missing_checkouts: { label: '忘记签退待复核', to: { path: '/activities', query: { attention: 'checkouts' } } },
  pending_declarations: { label: '待确认的自主申报', to: { path: '/declarations' } },
  retroactive_to_approve: { label: '待审批的补录', to: { path: '/retroactive-entries' } },
  certificates_to_handle: { label: '待审核的记录证明（含公示异议）', to: { path: '/certificates' } },
  pending_transfers: { label: '待审批的转入申请', to: { path: '/transfers' } },
  star_reviews_pending: { label: '待审核的星级评定', to: { path: '/stars' } },
  teams_without_training: { label: '本季度未培训的专业队伍', to: { path: '/trainings' } },
  professional_teams_without_training: { label: '本季度未培训的专业队伍', to: { path: '/trainings' } },
  streets_without_training: { label: '本季度未培训的镇街', to: { path: '/trainings' } },
  festival_days_without_activity: { label: '30 天内还没有活动的节庆日', to: { path: '/calendar' } },
  festivals_without_activity: { label: '30 天内还没有活动的节庆日', to: { path: '/calendar' } },
}

function num(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value)
  return Number.isFinite(n) ? n : 0
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value ? value : null
}

function attentionItem(key: string, count: unknown, label?: unknown, hint?: unknown): AttentionItem {
  const known = KNOWN[key]
  return {
    key,
    label: str(label) ?? known?.label ?? key,
    count: num(count),
    to: known?.to ?? null,
    ...(str(hint) ? { hint: str(hint)! } : known?.hint ? { hint: known.hint } : {}),
  }
}

function attentionOf(raw: unknown): AttentionItem[] {
  if (Array.isArray(raw)) {
    return raw.filter((x) => x && typeof x === 'object').map((x) => {
      const row = x as Record<string, unknown>
      return attentionItem(String(row.key ?? row.kind ?? row.code ?? ''), row.count ?? row.value, row.label ?? row.title, row.hint ?? row.description)
    })
  }
  if (raw && typeof raw === 'object') {
    // A null count means "not for this scope" (e.g. organisation applications for an organiser): left out.
    return Object.entries(raw as Record<string, unknown>).filter(([, value]) => value !== null && value !== undefined).map(([key, value]) => {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        const row = value as Record<string, unknown>
        return attentionItem(key, row.count ?? row.total, row.label, row.hint)
      }
      return attentionItem(key, Array.isArray(value) ? value.length : value)
    })
  }
  return []
}

function activityOf(x: unknown): ActivityLine | null {
  if (!x || typeof x !== 'object') return null
  const a = x as Record<string, unknown>
  const org = a.organization as Record<string, unknown> | string | undefined
  if (typeof a.id !== 'number') return null
  return {
    id: a.id,
    title: str(a.title) ?? str(a.name) ?? `活动 ${a.id}`,
    starts_at: str(a.starts_at) ?? '',
    ends_at: str(a.ends_at),
    status: str(a.status) ?? str(a.state) ?? '',
    signed_up: (a.signed_up ?? a.signup_count ?? a.signups ?? a.approved_count ?? null) as number | null,
    capacity: (a.capacity ?? null) as number | null,
    place: str(a.place) ?? str(a.address) ?? str(a.location),
    organization: typeof org === 'string' ? org : str(org?.name) ?? null,
    team: str((a.team as Record<string, unknown> | null | undefined)?.name),
    checked_in: typeof a.checked_in === 'number' ? a.checked_in : null,
    pending: typeof a.pending === 'number' ? a.pending : null,
    waitlisted: typeof a.waitlisted === 'number' ? a.waitlisted : null,
  }
}

function activities(raw: unknown): ActivityLine[] {
  return Array.isArray(raw) ? raw.map(activityOf).filter((a): a is ActivityLine => a !== null) : []
}

export function normalizeWorkbench(raw: unknown): Workbench {
  const body = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>
  return {
    attention: attentionOf(body.attention ?? body.needs_attention ?? body.counts),
    today: activities(body.today ?? body.today_activities),
    upcoming: activities(body.upcoming ?? body.coming ?? body.coming_activities ?? body.upcoming_activities),
    festivals: (Array.isArray(body.festival_days) ? body.festival_days : []).filter((f) => f && typeof f === 'object').map((f) => {
      const row = f as Record<string, unknown>
      return { day: str(row.day) ?? '', name: str(row.name) ?? '', theme: str(row.theme) }
    }),
    quarter: str((body.quarter as Record<string, unknown> | undefined)?.label),
  }
}

/** Weekly points, oldest first; hours from hours or minutes. */
export function normalizeTrends(raw: unknown): TrendPoint[] {
  const body = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>
  const rows = (Array.isArray(raw) ? raw : body.weeks ?? body.items ?? body.points ?? []) as unknown[]
  if (!Array.isArray(rows)) return []
  const points = rows.filter((x) => x && typeof x === 'object').map((x) => {
    const r = x as Record<string, unknown>
    const hours = r.hours !== undefined ? num(r.hours)
      : r.service_hours !== undefined ? num(r.service_hours)
        : num(r.minutes ?? r.service_minutes) / 60
    return {
      week: str(r.starts_on) ?? str(r.week_start) ?? str(r.week) ?? str(r.start) ?? str(r.from) ?? '',
      signups: num(r.signups ?? r.signup_count ?? r.sign_ups),
      hours: Math.round(hours * 10) / 10,
    }
  })
  return points.sort((a, b) => (a.week < b.week ? -1 : a.week > b.week ? 1 : 0))
}
