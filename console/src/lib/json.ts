// Readers for JSON documents the API stores as they were frozen (a bulletin's content, a certificate's
// snapshot): their shape is the one of the day they were made, so each field is read defensively.

export type Json = Record<string, unknown>

export function obj(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {}
}

export function list(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter((x) => x && typeof x === 'object').map((x) => x as Json) : []
}

export function text(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

export function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null
}
