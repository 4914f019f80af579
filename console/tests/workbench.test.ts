import { describe, expect, it } from 'vitest'
import { normalizeTrends, normalizeWorkbench } from '@/lib/workbench'

describe('normalizeWorkbench', () => {
  it('reads a list of attention items and links the known ones', () => {
    const wb = normalizeWorkbench({
      attention: [{ key: 'pending_volunteers', count: 4 }, { key: 'something_new', label: '新的待办', count: 2 }],
      today: [{ id: 7, title: '清洁家园', starts_at: '2026-12-04T01:00:00Z', ends_at: '2026-12-04T03:00:00Z', status: 'ongoing', signup_count: 12, capacity: 20 }],
      upcoming: [{ title: 'no id' }],
    })
    expect(wb.attention[0]).toMatchObject({ label: '待审核的志愿者注册', count: 4, to: { path: '/volunteers', query: { tab: 'review' } } })
    expect(wb.attention[1]).toMatchObject({ label: '新的待办', count: 2, to: null })
    expect(wb.today[0]).toMatchObject({ id: 7, title: '清洁家园', signed_up: 12, capacity: 20, status: 'ongoing' })
    expect(wb.upcoming).toEqual([])
  })

  it('reads a map of counts too', () => {
    const wb = normalizeWorkbench({ needs_attention: { correction_requests: 3, festival_days_without_activity: [{}, {}] } })
    expect(wb.attention.map((a) => [a.label, a.count])).toEqual([['待处理的时长更正申请', 3], ['30 天内还没有活动的节庆日', 2]])
    expect(normalizeWorkbench(null)).toEqual({ attention: [], today: [], upcoming: [], festivals: [], quarter: null })
  })
})

describe('the lists API shape', () => {
  it('leaves out counts that do not apply to the scope and reads festivals and the quarter', () => {
    const wb = normalizeWorkbench({
      attention: { pending_registrations: 2, pending_organizations: null, open_corrections: 0, checkouts_to_review: 1 },
      today: [], coming: [{ id: 3, title: '敬老', starts_at: '2026-12-06T01:00:00Z', ends_at: '2026-12-06T03:00:00Z', status: 'published', signed_up: 4, capacity: 10, checked_in: 0, pending: 2, waitlisted: 1, team: { id: 5, name: '应急队' } }],
      festival_days: [{ day: '2026-12-05', key: 'volunteer_day', name: '国际志愿者日', theme: '志愿服务' }],
      quarter: { year: 2026, quarter: 4, label: '2026年第4季度' },
    })
    expect(wb.attention.map((a) => a.key)).toEqual(['pending_registrations', 'open_corrections', 'checkouts_to_review'])
    expect(wb.attention[2].label).toBe('忘记签退待复核')
    expect(wb.upcoming[0]).toMatchObject({ signed_up: 4, pending: 2, waitlisted: 1, team: '应急队' })
    expect(wb.festivals).toEqual([{ day: '2026-12-05', name: '国际志愿者日', theme: '志愿服务' }])
    expect(wb.quarter).toBe('2026年第4季度')
  })

  it('links the records queues to their pages and leaves out the ones the scope does not decide', () => {
    const wb = normalizeWorkbench({
      attention: { pending_declarations: 2, retroactive_to_approve: null, certificates_to_handle: 1, pending_transfers: 3 },
    })
    expect(wb.attention.map((a) => [a.label, a.count, a.to?.path])).toEqual([
      ['待确认的自主申报', 2, '/declarations'],
      ['待审核的记录证明（含公示异议）', 1, '/certificates'],
      ['待审批的转入申请', 3, '/transfers'],
    ])
    expect(normalizeWorkbench({ attention: { retroactive_to_approve: 4 } }).attention[0])
      .toMatchObject({ label: '待审批的补录', to: { path: '/retroactive-entries' } })
    expect(normalizeWorkbench({ attention: { star_reviews_pending: 2 } }).attention[0])
      .toMatchObject({ label: '待审核的星级评定', count: 2, to: { path: '/stars' } })
  })

  it('reads weeks by their first day', () => {
    expect(normalizeTrends({ weeks: [{ week: '2026-W49', starts_on: '2026-11-30', signups: 3, service_minutes: 90, service_hours: 1.5 }] }))
      .toEqual([{ week: '2026-11-30', signups: 3, hours: 1.5 }])
  })
})

describe('normalizeTrends', () => {
  it('sorts weeks and turns minutes into hours', () => {
    expect(normalizeTrends({ weeks: [
      { week_start: '2026-11-30', signups: 5, minutes: 150 },
      { week_start: '2026-11-23', signups: 2, hours: 4 },
    ] })).toEqual([{ week: '2026-11-23', signups: 2, hours: 4 }, { week: '2026-11-30', signups: 5, hours: 2.5 }])
    expect(normalizeTrends(undefined)).toEqual([])
  })
})
