import dayjs, { type Dayjs } from 'dayjs'
import utc from 'dayjs/plugin/utc'

dayjs.extend(utc)

// Every date and time the console shows is China Standard Time (UTC+8, no daylight saving), whatever
// the browser's own zone: a fixed offset, not the browser's Intl zone data.
export const SHANGHAI_OFFSET_MINUTES = 8 * 60

type TimeInput = string | number | Date | Dayjs | null | undefined

export function inShanghai(value: TimeInput): Dayjs | null {
  if (value === null || value === undefined || value === '') return null
  const parsed = dayjs.utc(value as string | number | Date | Dayjs)
  if (!parsed.isValid()) return null
  return parsed.utcOffset(SHANGHAI_OFFSET_MINUTES)
}

export function formatDateTime(value: TimeInput, placeholder = '—'): string {
  return inShanghai(value)?.format('YYYY-MM-DD HH:mm') ?? placeholder
}

export function formatDate(value: TimeInput, placeholder = '—'): string {
  return inShanghai(value)?.format('YYYY-MM-DD') ?? placeholder
}

export function formatTime(value: TimeInput, placeholder = '—'): string {
  return inShanghai(value)?.format('HH:mm') ?? placeholder
}

/** "12月4日 14:00–16:30" for a span on one day, both ends in full otherwise. */
export function formatSpan(start: TimeInput, end: TimeInput): string {
  const a = inShanghai(start)
  const b = inShanghai(end)
  if (!a) return '—'
  if (!b) return a.format('M月D日 HH:mm')
  if (a.format('YYYY-MM-DD') === b.format('YYYY-MM-DD')) return `${a.format('M月D日 HH:mm')}–${b.format('HH:mm')}`
  return `${a.format('M月D日 HH:mm')} – ${b.format('M月D日 HH:mm')}`
}

/** A wall-clock time typed in the console ("2026-12-04 14:00", read as Beijing time) to ISO 8601 for the API. */
export function shanghaiToIso(wallClock: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(wallClock.trim())
  if (!match) return null
  const [, y, mo, d, h = '00', mi = '00', s = '00'] = match
  return `${y}-${mo}-${d}T${h}:${mi}:${s}+08:00`
}

/** Today's date in Beijing, YYYY-MM-DD. */
export function todayInShanghai(now: TimeInput = new Date()): string {
  return inShanghai(now)!.format('YYYY-MM-DD')
}

/** Whole seconds left until `deadline` (never negative). */
export function secondsLeft(deadline: TimeInput, now: TimeInput = new Date()): number {
  const end = inShanghai(deadline)
  const at = inShanghai(now)
  if (!end || !at) return 0
  return Math.max(0, Math.ceil(end.diff(at, 'millisecond') / 1000))
}

export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

export function formatMinutes(minutes: number | null | undefined): string {
  if (minutes === null || minutes === undefined) return '—'
  const h = Math.floor(minutes / 60)
  const m = minutes % 60
  if (h === 0) return `${m} 分钟`
  return m === 0 ? `${h} 小时` : `${h} 小时 ${m} 分钟`
}

/**
 * When a login ticket runs out, on the browser's clock. The server's `expires_at` is trusted only when
 * it lies within the ticket's lifetime from now: a browser clock that is off by minutes would otherwise
 * show an expired (or endless) code. The poll's 410 ends the ticket in any case.
 */
export function ticketDeadline(expiresAt: string, nowMs: number = Date.now(), lifetimeMs = 120_000): number {
  const parsed = Date.parse(expiresAt)
  const left = parsed - nowMs
  if (!Number.isFinite(parsed) || left <= 0 || left > lifetimeMs + 5_000) return nowMs + lifetimeMs
  return parsed
}
