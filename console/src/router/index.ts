import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import type { ScopeRole } from '@/api/types'
import { configureAuth } from '@/api/client'
import { clearSession, currentScope, loadMe, session } from '@/stores/session'
import { APPLY_PATH, landingPathFor, routeAllowed } from '@/lib/menu'

declare module 'vue-router' {
  interface RouteMeta {
    title?: string
    public?: boolean
    roles?: readonly ScopeRole[]
    bare?: boolean
  }
}

const ORG_ADMIN: ScopeRole[] = ['organizer', 'admin']
const ALL: ScopeRole[] = ['organizer', 'captain', 'admin']

// Every page is its own chunk: the first load carries the shell and the login page only.
export const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('@/pages/LoginPage.vue'), meta: { public: true, title: '登录' } },
  {
    path: '/activities/:id/screen', name: 'activity-screen',
    component: () => import('@/pages/ActivityScreenPage.vue'),
    meta: { title: '签到大屏', roles: ['organizer', 'captain'], bare: true },
  },
  {
    path: '/',
    component: () => import('@/layouts/ConsoleLayout.vue'),
    children: [
      { path: '', name: 'home', component: () => import('@/pages/HomeRedirect.vue'), meta: { roles: ALL } },
      { path: 'workbench', name: 'workbench', component: () => import('@/pages/WorkbenchPage.vue'), meta: { title: '工作台', roles: ORG_ADMIN } },
      { path: 'statistics', name: 'statistics', component: () => import('@/pages/StatisticsPage.vue'), meta: { title: '统计分析', roles: ORG_ADMIN } },
      { path: 'volunteers', name: 'volunteers', component: () => import('@/pages/VolunteersPage.vue'), meta: { title: '志愿者', roles: ORG_ADMIN } },
      { path: 'organizations', name: 'organizations', component: () => import('@/pages/OrganizationsPage.vue'), meta: { title: '组织与队伍', roles: ORG_ADMIN } },
      { path: 'activities', name: 'activities', component: () => import('@/pages/ActivitiesPage.vue'), meta: { title: '活动', roles: ['organizer', 'captain'] } },
      { path: 'activities/:id', name: 'activity', component: () => import('@/pages/ActivityDetailPage.vue'), meta: { title: '活动详情', roles: ['organizer', 'captain'] } },
      { path: 'announcements', name: 'announcements', component: () => import('@/pages/AnnouncementsPage.vue'), meta: { title: '通知公告', roles: ['organizer'] } },
      { path: 'calendar', name: 'calendar', component: () => import('@/pages/CalendarPage.vue'), meta: { title: '节庆日与活动计划', roles: ORG_ADMIN } },
      { path: 'trainings', name: 'trainings', component: () => import('@/pages/TrainingsPage.vue'), meta: { title: '培训', roles: ORG_ADMIN } },
      { path: APPLY_PATH.slice(1), name: 'apply', component: () => import('@/pages/ApplyPage.vue'), meta: { title: '申请成立组织' } },
      // Captains reach it from the message after an export (their menu has no entry for it).
      { path: 'exports', name: 'exports', component: () => import('@/pages/ExportsPage.vue'), meta: { title: '导出', roles: ALL } },
      { path: 'bulletins', name: 'bulletins', component: () => import('@/pages/BulletinsPage.vue'), meta: { title: '月度通报', roles: ['admin'] } },
      { path: 'bulletins/:id', name: 'bulletin', component: () => import('@/pages/BulletinDetailPage.vue'), meta: { title: '月度通报', roles: ['admin'] } },
      { path: 'regions', name: 'regions', component: () => import('@/pages/RegionsPage.vue'), meta: { title: '地区与权限', roles: ['admin'] } },
      { path: 'audit-log', name: 'audit-log', component: () => import('@/pages/AuditLogPage.vue'), meta: { title: '操作日志', roles: ['admin'] } },
      { path: 'retroactive-entries', name: 'retroactive-entries', component: () => import('@/pages/RetroactivePage.vue'), meta: { title: '补录', roles: ORG_ADMIN } },
      { path: 'imports', name: 'imports', component: () => import('@/pages/ImportsPage.vue'), meta: { title: '导入', roles: ['organizer'] } },
      { path: 'transfers', name: 'transfers', component: () => import('@/pages/TransfersPage.vue'), meta: { title: '转移', roles: ORG_ADMIN } },
      { path: 'certificates', name: 'certificates', component: () => import('@/pages/CertificatesPage.vue'), meta: { title: '记录证明', roles: ORG_ADMIN } },
      { path: 'stars', name: 'stars', component: () => import('@/pages/StarsPage.vue'), meta: { title: '星级评定', roles: ['admin'] } },
      { path: 'rewards', name: 'rewards', component: () => import('@/pages/RewardsPage.vue'), meta: { title: '积分兑换', roles: ['organizer'] } },
      { path: 'rewards/pickup', name: 'rewards-pickup', component: () => import('@/pages/RewardsPage.vue'), meta: { title: '兑换核销', roles: ['organizer'] } },
      { path: 'points', name: 'points', component: () => import('@/pages/PointsPage.vue'), meta: { title: '积分', roles: ['organizer', 'admin'] } },
      { path: 'volunteers/:id/archive', name: 'volunteer-archive', component: () => import('@/pages/VolunteerArchivePage.vue'), meta: { title: '志愿者档案', roles: ORG_ADMIN } },
      { path: 'declarations', name: 'declarations', component: () => import('@/pages/DeclarationsPage.vue'), meta: { title: '待确认申报', roles: ['organizer', 'captain'] } },
      { path: ':pathMatch(.*)*', name: 'not-found', component: () => import('@/pages/NotFoundPage.vue'), meta: { title: '页面不存在' } },
    ],
  },
]

export const router = createRouter({
  history: createWebHistory('/console/'),
  routes,
  scrollBehavior: () => ({ top: 0 }),
})

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (!session.me) {
    if (session.checked && !session.me) return { name: 'login', query: { redirect: to.fullPath } }
    try {
      const me = await loadMe()
      if (!me) return { name: 'login', query: { redirect: to.fullPath } }
    } catch {
      return { name: 'login', query: { redirect: to.fullPath } }
    }
  }
  if (!routeAllowed(to.meta.roles, currentScope.value)) {
    const home = landingPathFor(session.me, currentScope.value)
    return home === to.path ? true : home
  }
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · 志愿服务管理后台` : '志愿服务管理后台'
})

// A 401 on any call once signed in: the session ended (idle, logout elsewhere): back to the login page.
configureAuth({
  onUnauthorized: () => {
    if (!session.me) return
    clearSession()
    const here = router.currentRoute.value
    if (!here.meta.public) void router.replace({ name: 'login', query: { redirect: here.fullPath } })
  },
})
