// Polling with a fixed rhythm that survives failures: the projected check-in screen and the
// announcement progress ask the API again and again; a failed request is counted (the screen shows
// "连接中断，正在重试") and the next one goes out on schedule. The next request starts only after the
// previous one settled, so a slow answer never piles requests up.

export interface Poller {
  start(): void
  stop(): void
  /** Run now (e.g. after the tab becomes visible again), then keep the rhythm. */
  kick(): void
  readonly running: boolean
}

export interface PollerOptions {
  intervalMs: number
  /** After each attempt: how many failed in a row (0 after a success). */
  onResult?: (failuresInRow: number, error: unknown) => void
  /** Stop when this says so (e.g. the announcement finished delivering). */
  done?: () => boolean
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (handle: unknown) => void
}

export function createPoller(task: () => Promise<unknown>, options: PollerOptions): Poller {
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
  const clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>))
  let timer: unknown = null
  let running = false
  let inFlight = false
  let failures = 0

  function schedule(ms: number) {
    if (timer !== null) clearTimer(timer)
    timer = setTimer(() => {
      timer = null
      void tick()
    }, ms)
  }

  async function tick() {
    if (!running || inFlight) return
    inFlight = true
    const startedAt = Date.now()
    try {
      await task()
      failures = 0
      options.onResult?.(0, null)
    } catch (error) {
      failures += 1
      options.onResult?.(failures, error)
    } finally {
      inFlight = false
    }
    if (!running) return
    if (options.done?.()) {
      running = false
      return
    }
    schedule(Math.max(0, options.intervalMs - (Date.now() - startedAt)))
  }

  return {
    start() {
      if (running) return
      running = true
      void tick()
    },
    stop() {
      running = false
      if (timer !== null) clearTimer(timer)
      timer = null
    },
    kick() {
      if (!running) return
      if (timer !== null) clearTimer(timer)
      timer = null
      void tick()
    },
    get running() {
      return running
    },
  }
}

// --- the rotating activity code -----------------------------------------------------------------
// GET /activities/{id}/display-code answers the current code and `seconds_left` until it rotates. The
// screen counts down from the moment the answer arrived and fetches the next code just after the
// rotation (a little grace, so the server is surely on the new code); a failed fetch is retried soon.

export const ROTATION_GRACE_MS = 400
export const RETRY_AFTER_FAILURE_MS = 2000

/** The instant (ms) the shown code rotates. */
export function rotationDeadline(receivedAtMs: number, secondsLeftAtReceipt: number): number {
  return receivedAtMs + Math.max(0, secondsLeftAtReceipt) * 1000
}

/** Whole seconds to show in the countdown (never negative). */
export function countdownSeconds(deadlineMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((deadlineMs - nowMs) / 1000))
}

/** How long to wait before fetching the next code. */
export function nextCodeFetchDelay(deadlineMs: number, nowMs: number): number {
  return Math.max(ROTATION_GRACE_MS, deadlineMs - nowMs + ROTATION_GRACE_MS)
}

/** Whether the polled data is stale enough to warn (no success for a while, or failures in a row). */
export function connectionLost(failuresInRow: number, lastSuccessMs: number | null, nowMs: number, staleAfterMs = 3000): boolean {
  if (failuresInRow >= 2) return true
  if (failuresInRow >= 1 && lastSuccessMs !== null && nowMs - lastSuccessMs > staleAfterMs) return true
  return lastSuccessMs === null && failuresInRow >= 1
}
