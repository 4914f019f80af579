import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  connectionLost, countdownSeconds, createPoller, nextCodeFetchDelay, ROTATION_GRACE_MS, rotationDeadline,
} from '@/lib/poll'

describe('the rotating code countdown', () => {
  it('counts down from the answer and fetches just after the rotation', () => {
    const received = 1_000_000
    const deadline = rotationDeadline(received, 17)
    expect(deadline).toBe(received + 17_000)
    expect(countdownSeconds(deadline, received)).toBe(17)
    expect(countdownSeconds(deadline, received + 16_100)).toBe(1)
    expect(countdownSeconds(deadline, received + 17_000)).toBe(0)
    expect(countdownSeconds(deadline, received + 99_000)).toBe(0)
    expect(nextCodeFetchDelay(deadline, received)).toBe(17_000 + ROTATION_GRACE_MS)
    // already past the rotation (a late answer): fetch again soon, never in a busy loop
    expect(nextCodeFetchDelay(deadline, received + 30_000)).toBe(ROTATION_GRACE_MS)
  })

  it('treats a code answered with 0 seconds left as due now', () => {
    const deadline = rotationDeadline(5000, 0)
    expect(countdownSeconds(deadline, 5000)).toBe(0)
    expect(nextCodeFetchDelay(deadline, 5000)).toBe(ROTATION_GRACE_MS)
  })
})

describe('the poller', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('polls every interval and keeps going through failures', async () => {
    let calls = 0
    const results: number[] = []
    const poller = createPoller(async () => {
      calls += 1
      if (calls === 2 || calls === 3) throw new Error('down')
    }, { intervalMs: 1000, onResult: (n) => results.push(n) })
    poller.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(calls).toBe(1)
    await vi.advanceTimersByTimeAsync(1000)
    await vi.advanceTimersByTimeAsync(1000)
    await vi.advanceTimersByTimeAsync(1000)
    expect(calls).toBe(4)
    expect(results).toEqual([0, 1, 2, 0])
    poller.stop()
    await vi.advanceTimersByTimeAsync(5000)
    expect(calls).toBe(4)
  })

  it('never overlaps a slow request and stops when done', async () => {
    let calls = 0
    let finished = false
    const poller = createPoller(() => new Promise<void>((resolve) => {
      calls += 1
      setTimeout(resolve, 2500)
    }), { intervalMs: 1000, done: () => finished })
    poller.start()
    await vi.advanceTimersByTimeAsync(2000)
    expect(calls).toBe(1)
    await vi.advanceTimersByTimeAsync(600) // first settled at 2500, late: the next goes at once
    expect(calls).toBe(2)
    finished = true
    await vi.advanceTimersByTimeAsync(10_000)
    expect(calls).toBe(2)
    expect(poller.running).toBe(false)
  })

  it('warns about a lost connection only after failures', () => {
    expect(connectionLost(0, 1000, 9000)).toBe(false)
    expect(connectionLost(1, 8500, 9000)).toBe(false)
    expect(connectionLost(1, 1000, 9000)).toBe(true)
    expect(connectionLost(2, 8900, 9000)).toBe(true)
    expect(connectionLost(1, null, 9000)).toBe(true)
  })
})
