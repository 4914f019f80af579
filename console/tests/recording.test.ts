import { describe, expect, it } from 'vitest'
import {
  changedRatings, declarationStatus, gallery, lightboxOf, outcomeOf, precheckSheet, summaryOf, tableRows, toBase64, toWallClock,
} from '@/lib/recording'

const START = '2026-12-05T01:00:00Z' // 09:00 Beijing
const END = '2026-12-05T04:00:00Z' // 12:00 Beijing

describe('the bulk-entry table', () => {
  const line = (id: number, start = '', end = '', selected = true) => ({ volunteerId: id, name: `志愿者${id}`, selected, start, end })

  it('reads API times as the Beijing wall clock the picker edits', () => {
    expect(toWallClock(START)).toBe('2026-12-05 09:00')
    expect(toWallClock(null)).toBe('')
  })

  it('sends only the selected lines, leaving the activity’s own times to the API', () => {
    const { rows, problems } = tableRows([
      line(1, '2026-12-05 09:00', '2026-12-05 12:00'),
      line(2, '2026-12-05 09:30', '2026-12-05 12:00'),
      line(3, '', '', false),
    ], START, END)
    expect(problems).toEqual([])
    expect(rows).toEqual([{ volunteer_id: 1 }, { volunteer_id: 2, started_at: '2026-12-05T09:30:00+08:00' }])
  })

  it('holds back a line whose sign-out is not after its sign-in', () => {
    const { rows, problems } = tableRows([line(4, '2026-12-05 11:00', '2026-12-05 10:00')], START, END)
    expect(rows).toEqual([])
    expect(problems).toEqual(['志愿者4：签退时间应晚于签到时间'])
  })
})

describe('results as the organiser reads them', () => {
  it('says what each row became, with the API’s reason', () => {
    expect(outcomeOf({ row: 1, status: 'recorded', minutes: 150, error: null })).toEqual({ text: '已计入 2 小时 30 分钟', type: 'success' })
    const cap = { code: 'minutes_exceed_activity', message: '超出活动时长上限' }
    expect(outcomeOf({ row: 2, status: 'refused', minutes: 0, error: cap })).toEqual({ text: '未计入：超出活动时长上限', type: 'danger' })
    expect(outcomeOf({ row: 3, status: 'skipped', minutes: 0, error: { code: 'x', message: '缺少姓名' } }).text).toBe('未提交：缺少姓名')
  })

  it('sums a commit up', () => {
    expect(summaryOf({ recorded: 2, refused: 1, skipped: 1, minutes: 360 })).toBe('已计入 2 人，共 6 小时；1 人未计入；1 行有问题未提交')
    expect(summaryOf({ recorded: 1, refused: 0, skipped: 0, minutes: 30 })).toBe('已计入 1 人，共 30 分钟')
  })

  it('labels declaration states', () => {
    expect(declarationStatus('pending')).toEqual({ text: '待确认', type: 'warning' })
    expect(declarationStatus('odd')).toEqual({ text: 'odd', type: 'info' })
  })
})

describe('the sign-in sheet before it is sent', () => {
  it('takes only .xlsx files under the API’s limit', () => {
    expect(precheckSheet({ name: '签到表.xls', size: 10 })).toContain('不是 .xlsx')
    expect(precheckSheet({ name: '签到表.xlsx', size: 0 })).toContain('空文件')
    expect(precheckSheet({ name: '签到表.xlsx', size: 800 * 1024 })).toContain('700 KB')
    expect(precheckSheet({ name: '签到表.XLSX', size: 1000 })).toBeNull()
  })

  it('encodes bytes as base64, also past one chunk', () => {
    expect(toBase64(new Uint8Array([80, 75, 3, 4]))).toBe('UEsDBA==')
    const big = new Uint8Array(0x8000 * 2 + 3).fill(65)
    expect(atob(toBase64(big)).length).toBe(big.length)
  })
})

describe('attendee evaluations', () => {
  it('sends only changed ratings and notes', () => {
    const lines = [
      { volunteer_id: 1, rating: 'excellent', note: '' },
      { volunteer_id: 2, rating: null, note: null },
      { volunteer_id: 3, rating: 'qualified', note: '准时' },
      { volunteer_id: 4, rating: null, note: null },
    ]
    const drafts = {
      1: { rating: 'excellent', note: '' }, 2: { rating: 'qualified', note: ' 认真 ' },
      3: { rating: 'qualified', note: '迟到' }, 4: { rating: '', note: '没评' },
    }
    expect(changedRatings(lines, drafts)).toEqual([
      { volunteer_id: 2, rating: 'qualified', note: '认真' },
      { volunteer_id: 3, rating: 'qualified', note: '迟到' },
    ])
  })
})

describe('the evidence gallery', () => {
  const item = (token: string, source: string, caption: string, thumb: string | null = `t-${token}`, type = 'image/jpeg') =>
    ({ token, url: `u-${token}`, thumbnail_url: thumb, content_type: type, source, caption })

  it('opens images in the lightbox, leaves a scanned PDF as a link, and shows a file once', () => {
    const items = gallery([
      item('a', 'report', '活动照片'), item('b', 'declaration', '张* 的申报'), item('a', 'declaration', '张* 的申报'),
      item('pdf', 'retroactive', '补录凭证', null, 'application/pdf'),
    ])
    expect(items.map((i) => [i.key, i.caption, i.isImage])).toEqual([
      ['a', '活动照片', true], ['b', '张* 的申报', true], ['pdf', '补录凭证', false],
    ])
    expect(lightboxOf(items)).toEqual(['u-a', 'u-b'])
  })
})
