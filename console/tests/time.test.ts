import { describe, expect, it } from 'vitest'
import {
  formatCountdown, formatDate, formatDateTime, formatMinutes, formatSpan, formatTime, secondsLeft, shanghaiToIso, ticketDeadline,
  todayInShanghai,
} from '@/lib/time'

describe('Asia/Shanghai formatting', () => {
  it('shows UTC instants as Beijing wall time whatever the browser zone', () => {
    expect(formatDateTime('2026-12-04T16:30:00Z')).toBe('2026-12-05 00:30')
    expect(formatDateTime('2026-12-04T10:00:00+08:00')).toBe('2026-12-04 10:00')
    expect(formatDate('2026-12-31T17:00:00Z')).toBe('2027-01-01')
    expect(formatTime('2026-12-04T01:05:00Z')).toBe('09:05')
  })

  it('shows a placeholder for missing or bad values', () => {
    expect(formatDateTime(null)).toBe('—')
    expect(formatDateTime('')).toBe('—')
    expect(formatDateTime('not a date', '无')).toBe('无')
  })

  it('formats a span on one day compactly', () => {
    expect(formatSpan('2026-12-04T06:00:00Z', '2026-12-04T08:30:00Z')).toBe('12月4日 14:00–16:30')
    expect(formatSpan('2026-12-04T15:00:00Z', '2026-12-04T17:00:00Z')).toBe('12月4日 23:00 – 12月5日 01:00')
  })

  it('reads typed wall-clock times as Beijing time', () => {
    expect(shanghaiToIso('2026-12-04 14:00')).toBe('2026-12-04T14:00:00+08:00')
    expect(shanghaiToIso('2026-12-04')).toBe('2026-12-04T00:00:00+08:00')
    expect(shanghaiToIso('12/04/2026')).toBeNull()
  })

  it('knows today in Beijing', () => {
    expect(todayInShanghai('2026-12-04T16:30:00Z')).toBe('2026-12-05')
  })

  it('counts down', () => {
    expect(secondsLeft('2026-12-04T10:02:00Z', '2026-12-04T10:00:00.500Z')).toBe(120)
    expect(secondsLeft('2026-12-04T10:00:00Z', '2026-12-04T10:05:00Z')).toBe(0)
    expect(formatCountdown(125)).toBe('2:05')
    expect(formatCountdown(-3)).toBe('0:00')
  })

  it('formats minutes as hours', () => {
    expect(formatMinutes(45)).toBe('45 分钟')
    expect(formatMinutes(120)).toBe('2 小时')
    expect(formatMinutes(150)).toBe('2 小时 30 分钟')
    expect(formatMinutes(null)).toBe('—')
  })
})

describe('ticketDeadline', () => {
  const now = Date.parse('2026-12-04T10:00:00Z')
  it('trusts the server within the lifetime', () => {
    expect(ticketDeadline('2026-12-04T10:01:30Z', now)).toBe(Date.parse('2026-12-04T10:01:30Z'))
  })
  it('falls back to the lifetime when the clocks disagree', () => {
    expect(ticketDeadline('2026-12-04T09:50:00Z', now)).toBe(now + 120_000)
    expect(ticketDeadline('2026-12-04T10:30:00Z', now)).toBe(now + 120_000)
    expect(ticketDeadline('garbage', now)).toBe(now + 120_000)
  })
})
