import { describe, expect, it } from 'vitest'
import { draftProblems, emptyDraft, entryBody, evaluationLabel, hoursOf, periodPresets, periodQuery, sourceLabel } from '@/lib/archive'

describe('labels of the archive', () => {
  it('tells scans from time entered by people', () => {
    expect(sourceLabel('scan').text).toBe('扫码签到')
    expect(sourceLabel('retroactive').text).toBe('补录')
    expect(sourceLabel('new_way')).toEqual({ text: 'new_way', type: 'info' })
  })

  it('names evaluations, and none', () => {
    expect(evaluationLabel('excellent').text).toBe('优秀')
    expect(evaluationLabel(null).text).toBe('未评价')
  })

  it('shows hours with two decimals at most', () => {
    expect(hoursOf(150)).toBe('2.5 小时')
    expect(hoursOf(20)).toBe('0.33 小时')
  })
})

describe('the period filter', () => {
  it('sends from and to, in order, or nothing', () => {
    expect(periodQuery(['2026-01-01', '2026-06-30'])).toEqual({ from: '2026-01-01', to: '2026-06-30' })
    expect(periodQuery(['2026-06-30', '2026-01-01'])).toEqual({ from: '2026-01-01', to: '2026-06-30' })
    expect(periodQuery(null)).toEqual({})
    expect(periodQuery(['', ''])).toEqual({})
  })

  it('offers this year, last year and the last 12 months', () => {
    expect(periodPresets('2026-12-05')).toEqual([
      { label: '今年', range: ['2026-01-01', '2026-12-05'] },
      { label: '去年', range: ['2025-01-01', '2025-12-31'] },
      { label: '近 12 个月', range: ['2025-12-05', '2026-12-05'] },
    ])
    expect(periodPresets('2028-02-29')[2].range[0]).toBe('2027-02-28')
  })
})

describe('an award or complaint entry', () => {
  it('finds the problems before sending', () => {
    const draft = { ...emptyDraft('award'), title: '优', occurred_on: '2026-12-06', issuer: '区', reason: '' }
    expect(draftProblems(draft, '2026-12-05')).toEqual({
      title: '请填写表彰名称（至少 2 个字）', issuer: '授予单位至少 2 个字', occurred_on: '不能晚于今天', reason: '请填写记录依据（至少 2 个字）',
    })
    expect(draftProblems({ ...emptyDraft('complaint'), title: '迟到早退', occurred_on: '', reason: '受理 12 号' }, '2026-12-05'))
      .toEqual({ occurred_on: '请选择日期' })
    expect(draftProblems({ ...emptyDraft(), title: '优秀志愿者', occurred_on: '2026-12-05', reason: '渝志协〔2026〕3号' }, '2026-12-05')).toEqual({})
  })

  it('builds the body: trimmed, an empty issuer left to the API, the acting organisation', () => {
    const body = entryBody({ kind: 'award', title: ' 优秀志愿者 ', detail: '', issuer: '  ', occurred_on: '2026-12-01', reason: ' 文号 ' }, 7)
    expect(body).toEqual({ kind: 'award', title: '优秀志愿者', detail: '', issuer: null, occurred_on: '2026-12-01', reason: '文号', organization_id: 7 })
  })
})
