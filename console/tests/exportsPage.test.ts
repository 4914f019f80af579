import { describe, expect, it } from 'vitest'
import {
  downloadPlan, fileGone, filtersText, rowsText, scopeOf, scopeText, setCategoryNames, shownStatus, volunteerExport, withExport,
} from '@/lib/exports'

const NOW = new Date('2026-12-04T08:00:00Z')

describe('the exports page', () => {
  it('shows a done export whose file is past its keeping time as expired, and offers no download then', () => {
    const kept = { status: 'done', expires_at: '2026-12-05T08:00:00Z' }
    const gone = { status: 'done', expires_at: '2026-12-04T07:59:59Z' }
    expect(fileGone(kept, NOW)).toBe(false)
    expect(fileGone(gone, NOW)).toBe(true)
    expect(shownStatus(kept, NOW)).toBe('done')
    expect(shownStatus(gone, NOW)).toBe('expired')
    expect(shownStatus({ status: 'running', expires_at: null }, NOW)).toBe('running')
    expect(downloadPlan(kept, NOW)).toBe('fetch')
    expect(downloadPlan(gone, NOW)).toBe('expired')
    expect(downloadPlan({ status: 'done', expires_at: null }, NOW)).toBe('fetch')
    expect(downloadPlan({ status: 'failed', expires_at: null }, NOW)).toBe('none')
    expect(downloadPlan({ status: 'queued' }, NOW)).toBe('none')
  })

  it('names the scope by its looked-up name, else by kind and id', () => {
    expect(scopeOf({ region_id: 12 })).toEqual(['region', 12])
    expect(scopeOf({ activity_id: 3 })).toEqual(['activity', 3])
    expect(scopeOf({})).toBeNull()
    expect(scopeText({ region_id: 12 }, { 'region:12': '解放碑街道' })).toBe('解放碑街道')
    expect(scopeText({ organization_id: 5 }, { 'organization:5': '渝中区志愿者协会' })).toBe('组织：渝中区志愿者协会')
    expect(scopeText({ activity_id: 3 })).toBe('活动 #3')
    expect(scopeText(null)).toBe('—')
  })

  it('writes the filters in words, by the kind of list', () => {
    setCategoryNames({ student: '学生' })
    expect(filtersText('volunteers', {})).toBe('全部')
    expect(filtersText('volunteers', { status: 'approved', q: '张', category: 'student', skill: '急救', team_id: 4 }))
      .toBe('状态 已通过 · 关键词「张」 · 类别 学生 · 特长 急救 · 指定队伍')
    expect(filtersText('activities', { status: 'finished', starts_from: '2026-10-31T16:00:00Z', starts_until: '2026-11-30T15:59:59Z' }))
      .toBe('状态 已结束 · 2026-11-01 至 2026-11-30')
    expect(filtersText('activities', { starts_from: '2026-10-31T16:00:00+00:00' })).toBe('2026-11-01 起')
    expect(filtersText('kpi_table', { period: '2026-Q4' })).toBe('2026年第四季度')
  })

  it('counts rows as written, done or expected', () => {
    expect(rowsText({ status: 'done', row_count: 12345, rows_done: 12345, rows_total: 12345 })).toBe('12,345 行')
    expect(rowsText({ status: 'running', rows_done: 2000, rows_total: 5000, row_count: null })).toBe('已写 2,000 / 5,000 行')
    expect(rowsText({ status: 'queued', rows_done: 0, rows_total: null, row_count: null })).toBe('—')
  })

  it('replaces an export by its newer state, or puts a new one first', () => {
    const list = [{ id: 2, status: 'running' }, { id: 1, status: 'done' }]
    expect(withExport(list, { id: 2, status: 'done' })).toEqual([{ id: 2, status: 'done' }, { id: 1, status: 'done' }])
    expect(withExport(list, { id: 3, status: 'queued' }).map((j) => j.id)).toEqual([3, 2, 1])
    expect(list[0].status).toBe('running')
  })
})

describe('the volunteer list as an export request', () => {
  it('scopes it to the list region, else the fallback, and drops sorting and empty filters', () => {
    expect(volunteerExport({ q: '张', status: 'approved', sort: '-created_at', region_id: 7, team_id: null }, 2)).toEqual({
      scope: { region_id: 7 }, filters: { q: '张', status: 'approved' },
    })
    expect(volunteerExport({ category: 'student', skill: '急救', team_id: 9 }, 2)).toEqual({
      scope: { region_id: 2 }, filters: { category: 'student', skill: '急救', team_id: 9 },
    })
    expect(volunteerExport({ status: 'approved' }, null)).toBeNull()
  })
})
