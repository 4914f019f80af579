import { describe, expect, it } from 'vitest'
import { activityActions, activityStatusLabel, createBody, emptyForm, formFromActivity, localProblems, patchBody } from '@/lib/activities'

const activity = {
  title: '社区义诊', description: '', kind: 'service', themes: ['医疗健康'], team: { id: 4 }, region: { id: 9 },
  address: '幸福社区服务中心', latitude: null, longitude: null, checkin_radius_m: null,
  starts_at: '2026-12-05T01:00:00Z', ends_at: '2026-12-05T03:30:00Z', capacity: 20, signup_mode: 'open',
  required_skills: [], min_age: null, risk_level: 'low', requires_insurance: false, credit_margin_minutes: 30,
}

describe('activity form', () => {
  it('shows API instants as Beijing wall clock and sends them back with +08:00', () => {
    const form = formFromActivity(activity)
    expect(form.starts_at).toBe('2026-12-05 09:00')
    expect(form.ends_at).toBe('2026-12-05 11:30')
    const body = createBody(form, 3, true)
    expect(body).toMatchObject({ starts_at: '2026-12-05T09:00:00+08:00', ends_at: '2026-12-05T11:30:00+08:00',
      organization_id: 3, region_id: 9, publish: true, team_id: 4 })
  })

  it('patches only what changed (an unchanged time is not resent)', () => {
    const original = formFromActivity(activity)
    const form = { ...original, capacity: 30, latitude: 31.2, longitude: 121.5, checkin_radius_m: 200, team_id: null }
    expect(patchBody(form, original)).toEqual({ capacity: 30, latitude: 31.2, longitude: 121.5, checkin_radius_m: 200, team_id: null })
    expect(patchBody({ ...original, ends_at: '2026-12-05 12:00' }, original)).toEqual({ ends_at: '2026-12-05T12:00:00+08:00' })
    expect(patchBody(original, original)).toEqual({})
  })

  it('catches the obvious before asking the API', () => {
    const form = { ...emptyForm(), title: '义', latitude: 31.2 }
    const problems = localProblems(form)
    expect(Object.keys(problems).sort()).toEqual(['address', 'ends_at', 'longitude', 'region_id', 'starts_at', 'title'])
    const ok = { ...formFromActivity(activity), ends_at: '2026-12-05 08:00' }
    expect(localProblems(ok)).toEqual({ ends_at: '需晚于开始时间' })
    expect(localProblems({ ...formFromActivity(activity), checkin_radius_m: 100 })).toHaveProperty('checkin_radius_m')
  })

  it('names every state and offers what each allows', () => {
    expect(activityStatusLabel('evaluated').text).toBe('已评价')
    expect(activityStatusLabel('withdrawn').text).toBe('已撤回')
    expect(activityActions('draft', false)).toMatchObject({ publish: true, edit: true, cancelWord: '撤回', evaluate: false })
    expect(activityActions('published', true)).toMatchObject({ publish: false, cancel: true, cancelWord: '取消活动', screen: true })
    expect(activityActions('finished', true)).toMatchObject({ edit: false, cancel: false, evaluate: true })
  })
})
