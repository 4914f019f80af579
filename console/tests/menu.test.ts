import { describe, expect, it } from 'vitest'
import type { ConsoleScope } from '@/api/types'
import { APPLY_PATH, chooseScope, homePathFor, isRoleless, landingPathFor, menuBadge, menusFor, menusForAccount, routeAllowed, scopeOrganizationId, scopeQuery } from '@/lib/menu'

const organizer: ConsoleScope = { key: 'organizer:org:3', role: 'organizer', label: '甲区志愿者协会 · 组织者', organization: { id: 3, name: '甲区志愿者协会' }, team: null, region: null }
const captain: ConsoleScope = { key: 'captain:team:9', role: 'captain', label: '应急队 · 队长', organization: null, team: { id: 9, name: '应急队', organization_id: 3 }, region: null }
const admin: ConsoleScope = { key: 'admin:region:2', role: 'admin', label: '甲街道 · 管理员', organization: null, team: null, region: { id: 2, name: '甲街道', level: 'street' } }

const titles = (scope: ConsoleScope | null) => menusFor(scope).map((m) => m.title)

describe('an account without a role', () => {
  const roleless = { scopes: [] as ConsoleScope[] }

  it('sees only 申请成立组织 and lands there', () => {
    expect(isRoleless(roleless)).toBe(true)
    expect(menusForAccount(roleless, null).map((m) => [m.title, m.path])).toEqual([['申请成立组织', APPLY_PATH]])
    expect(landingPathFor(roleless, chooseScope(roleless.scopes, 'organizer:org:3'))).toBe(APPLY_PATH)
  })

  it('gets the usual menus once approved and logged in again (the organiser scope appears)', () => {
    const approved = { scopes: [organizer] }
    expect(isRoleless(approved)).toBe(false)
    expect(menusForAccount(approved, organizer).map((m) => m.title)).toContain('组织与队伍')
    expect(menusForAccount(approved, organizer).map((m) => m.title)).not.toContain('申请成立组织')
    expect(landingPathFor(approved, organizer)).toBe('/workbench')
  })

  it('has nothing before signing in', () => {
    expect(isRoleless(null)).toBe(false)
    expect(menusForAccount(null, null)).toEqual([])
    expect(landingPathFor(null, null)).toBe('/login')
  })
})

describe('menus per scope', () => {
  it('admins see review, regions and the audit log, not activities', () => {
    const t = titles(admin)
    expect(t).toEqual(expect.arrayContaining(['工作台', '志愿者', '组织审核', '地区与权限', '操作日志', '导出']))
    expect(t).not.toContain('活动')
    expect(t).not.toContain('组织与队伍')
  })

  it('organisers see their organisation pages but not the admin ones', () => {
    const t = titles(organizer)
    expect(t).toEqual(expect.arrayContaining(['工作台', '志愿者', '组织与队伍', '活动', '签到大屏', '通知公告', '节庆日与活动计划', '培训', '导出']))
    expect(t).not.toContain('地区与权限')
    expect(t).not.toContain('操作日志')
  })

  it('captains see activities, the check-in screen and the declarations to confirm', () => {
    expect(titles(captain)).toEqual(['活动', '签到大屏', '待确认申报'])
    expect(homePathFor(captain)).toBe('/activities')
    expect(homePathFor(organizer)).toBe('/workbench')
    expect(titles(null)).toEqual([])
  })

  it('guards pages by role', () => {
    expect(routeAllowed(['admin'], organizer)).toBe(false)
    expect(routeAllowed(['admin'], admin)).toBe(true)
    expect(routeAllowed(undefined, null)).toBe(true)
    expect(routeAllowed(['organizer'], null)).toBe(false)
  })

  it('remembers a scope only while the account still holds it', () => {
    expect(chooseScope([organizer, admin], 'admin:region:2')).toBe(admin)
    expect(chooseScope([organizer, admin], 'admin:region:99')).toBe(organizer)
    expect(chooseScope([], 'x')).toBeNull()
  })

  it('turns a scope into the API filter', () => {
    expect(scopeQuery(admin)).toEqual({ region_id: 2 })
    expect(scopeQuery(organizer)).toEqual({ organization_id: 3 })
    expect(scopeQuery(captain)).toEqual({ team_id: 9 })
    expect(scopeOrganizationId(captain)).toBe(3)
    expect(scopeOrganizationId(admin)).toBeNull()
  })
})

describe('menu badges', () => {
  const stars = () => menusFor(admin).find((m) => m.key === 'stars')!

  it('shows the star applications waiting for the admin on 星级评定', () => {
    expect(menuBadge(stars(), { star_reviews_pending: 3 })).toBe(3)
  })

  it('shows nothing when nothing waits, before the count is known, or on items without a badge', () => {
    expect(menuBadge(stars(), { star_reviews_pending: 0 })).toBe(0)
    expect(menuBadge(stars(), {})).toBe(0)
    expect(menuBadge(stars(), null)).toBe(0)
    for (const item of menusFor(admin).filter((m) => m.key !== 'stars')) {
      expect(menuBadge(item, { star_reviews_pending: 3 })).toBe(0)
    }
  })
})
