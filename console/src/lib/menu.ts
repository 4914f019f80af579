import type { ConsoleMe, ConsoleScope, ScopeRole } from '@/api/types'

// What each kind of scope sees. The console has no rules of its own: the API decides every permission;
// this only keeps the menu to the pages a role can use.
export interface MenuItem {
  key: string
  path: string
  title: string
  icon: string
  roles: readonly ScopeRole[]
  query?: Record<string, string>
  /** The ConsoleMe count shown as a badge on the item (what waits for the signed-in person there). */
  badge?: 'star_reviews_pending'
}

export const MENU: readonly MenuItem[] = [
  { key: 'workbench', path: '/workbench', title: '工作台', icon: 'Odometer', roles: ['organizer', 'admin'] },
  { key: 'statistics', path: '/statistics', title: '统计分析', icon: 'DataAnalysis', roles: ['organizer', 'admin'] },
  { key: 'volunteers', path: '/volunteers', title: '志愿者', icon: 'User', roles: ['organizer', 'admin'] },
  { key: 'organizations', path: '/organizations', title: '组织与队伍', icon: 'OfficeBuilding', roles: ['organizer'] },
  { key: 'org-review', path: '/organizations', title: '组织审核', icon: 'OfficeBuilding', roles: ['admin'] },
  { key: 'activities', path: '/activities', title: '活动', icon: 'Calendar', roles: ['organizer', 'captain'] },
  { key: 'screen', path: '/activities', title: '签到大屏', icon: 'Monitor', roles: ['organizer', 'captain'], query: { view: 'screen' } },
  { key: 'declarations', path: '/declarations', title: '待确认申报', icon: 'Checked', roles: ['organizer', 'captain'] },
  { key: 'announcements', path: '/announcements', title: '通知公告', icon: 'Bell', roles: ['organizer'] },
  { key: 'calendar', path: '/calendar', title: '节庆日与活动计划', icon: 'Flag', roles: ['organizer', 'admin'] },
  { key: 'trainings', path: '/trainings', title: '培训', icon: 'Reading', roles: ['organizer', 'admin'] },
  { key: 'retroactive-entries', path: '/retroactive-entries', title: '补录', icon: 'EditPen', roles: ['organizer', 'admin'] },
  { key: 'certificates', path: '/certificates', title: '记录证明', icon: 'Stamp', roles: ['organizer', 'admin'] },
  { key: 'stars', path: '/stars', title: '星级评定', icon: 'Medal', roles: ['admin'], badge: 'star_reviews_pending' },
  { key: 'points', path: '/points', title: '积分', icon: 'Coin', roles: ['organizer', 'admin'] },
  { key: 'rewards', path: '/rewards', title: '积分兑换', icon: 'Present', roles: ['organizer'] },
  { key: 'transfers', path: '/transfers', title: '转移', icon: 'Switch', roles: ['organizer', 'admin'] },
  { key: 'imports', path: '/imports', title: '导入', icon: 'Upload', roles: ['organizer'] },
  { key: 'exports', path: '/exports', title: '导出', icon: 'Download', roles: ['organizer', 'admin'] },
  { key: 'bulletins', path: '/bulletins', title: '月度通报', icon: 'DataAnalysis', roles: ['admin'] },
  { key: 'regions', path: '/regions', title: '地区与权限', icon: 'Location', roles: ['admin'] },
  { key: 'audit-log', path: '/audit-log', title: '操作日志', icon: 'Document', roles: ['admin'] },
]

export function menusFor(scope: ConsoleScope | null): MenuItem[] {
  if (!scope) return []
  return MENU.filter((item) => item.roles.includes(scope.role))
}

/** The number on an item's badge: its ConsoleMe count, 0 (no badge) when it has none or nothing waits. */
export function menuBadge(item: Pick<MenuItem, 'badge'>, me: Pick<ConsoleMe, 'star_reviews_pending'> | null): number {
  if (!item.badge || !me) return 0
  const count = me[item.badge]
  return typeof count === 'number' && count > 0 ? count : 0
}

/** The page a scope lands on: the workbench, or a captain's team activities. */
export function homePathFor(scope: ConsoleScope | null): string {
  return menusFor(scope)[0]?.path ?? '/login'
}

/**
 * An account without any role (a volunteer who wants to found an organisation) sees one page: apply for
 * an organisation and follow its own applications. Once an admin approves and the account logs in again,
 * ConsoleMe carries the organiser scope and the usual menus appear.
 */
export const APPLY_PATH = '/apply'
export const APPLY_MENU: MenuItem = { key: 'apply', path: APPLY_PATH, title: '申请成立组织', icon: 'OfficeBuilding', roles: [] }

/** Whether the signed-in account holds no role at all (ConsoleMe.scopes empty). */
export function isRoleless(me: Pick<ConsoleMe, 'scopes'> | null): boolean {
  return me !== null && me.scopes.length === 0
}

/** The menus of a signed-in account in its chosen scope (nothing before signing in). */
export function menusForAccount(me: Pick<ConsoleMe, 'scopes'> | null, scope: ConsoleScope | null): MenuItem[] {
  if (!me) return []
  if (isRoleless(me)) return [APPLY_MENU]
  return menusFor(scope)
}

/** Where a signed-in account lands: its scope's home, the application page without a role, else the login. */
export function landingPathFor(me: Pick<ConsoleMe, 'scopes'> | null, scope: ConsoleScope | null): string {
  if (isRoleless(me)) return APPLY_PATH
  return homePathFor(scope)
}

/** Whether a page (by its route's roles) is meant for the scope. Pages without roles are for everyone. */
export function routeAllowed(roles: readonly ScopeRole[] | undefined, scope: ConsoleScope | null): boolean {
  if (!roles || roles.length === 0) return true
  return scope !== null && roles.includes(scope.role)
}

const ROLE_NAMES: Record<ScopeRole, string> = { organizer: '组织者', captain: '队长', admin: '管理员' }

export function roleName(role: ScopeRole): string {
  return ROLE_NAMES[role]
}

/** Pick the remembered scope if the account still holds it, else the first one. */
export function chooseScope(scopes: readonly ConsoleScope[], remembered: string | null): ConsoleScope | null {
  if (scopes.length === 0) return null
  return scopes.find((scope) => scope.key === remembered) ?? scopes[0]
}

/** The API filter that puts a list or count in the chosen scope. */
export function scopeQuery(scope: ConsoleScope | null): { organization_id?: number; region_id?: number; team_id?: number } {
  if (!scope) return {}
  if (scope.role === 'admin' && scope.region) return { region_id: scope.region.id }
  if (scope.role === 'captain' && scope.team) return { team_id: scope.team.id }
  if (scope.organization) return { organization_id: scope.organization.id }
  return {}
}

/** The organisation the scope acts for (organisers: theirs; captains: their team's). */
export function scopeOrganizationId(scope: ConsoleScope | null): number | null {
  if (!scope) return null
  return scope.organization?.id ?? scope.team?.organization_id ?? null
}
