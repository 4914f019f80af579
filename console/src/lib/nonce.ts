// Idempotent writes (sign-up decisions, corrections, manual check-ins, correction decisions) carry a
// `nonce`: one random string per user action. A retry of the same action (same target, same body:
// a timeout, a lost answer, a second click) sends the same nonce, so the API answers as the first time
// and changes nothing twice. A new action (another body, or the same one after it went through) gets
// a fresh nonce; reusing one for another body would be refused as `nonce_reused`.

/** 24 random characters from [A-Za-z0-9_-] (the API takes 8–64 of them). */
export function newNonce(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'
  const bytes = random(new Uint8Array(24))
  let out = ''
  for (const byte of bytes) out += ALPHABET[byte & 63]
  return out
}

function fingerprint(body: unknown): string {
  return JSON.stringify(body, (_key, value) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
    }
    return value
  })
}

export interface NonceKeeper {
  /** The nonce for this action: the pending one if the same action (key and body) is being retried, else a new one. */
  nonceFor(key: string, body: unknown): string
  /** The action went through (or was refused for good): the next action under this key gets a new nonce. */
  settle(key: string): void
}

export function createNonceKeeper(make: () => string = () => newNonce()): NonceKeeper {
  const pending = new Map<string, { print: string; nonce: string }>()
  return {
    nonceFor(key, body) {
      const print = fingerprint(body)
      const held = pending.get(key)
      if (held && held.print === print) return held.nonce
      const nonce = make()
      pending.set(key, { print, nonce })
      return nonce
    },
    settle(key) {
      pending.delete(key)
    },
  }
}

/** Whether a failed write may have taken effect (no answer, or a server error): a retry must reuse the nonce. */
export function mayHaveApplied(error: unknown): boolean {
  const status = (error as { status?: number } | null)?.status
  return status === undefined || status === 0 || status >= 500
}

/**
 * Send an idempotent write: `send(nonce)` with the action's nonce. It is settled when the API answered
 * (success or a definite refusal); kept when the answer was lost, so the user's retry repeats it.
 */
export async function sendOnce<T>(keeper: NonceKeeper, key: string, body: unknown, send: (nonce: string) => Promise<T>): Promise<T> {
  const nonce = keeper.nonceFor(key, body)
  try {
    const answer = await send(nonce)
    keeper.settle(key)
    return answer
  } catch (error) {
    if (!mayHaveApplied(error)) keeper.settle(key)
    throw error
  }
}
