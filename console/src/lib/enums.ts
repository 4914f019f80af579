/**
 * A string (a filter, a route's query, a select's value) narrowed to one of an API enum's values, or
 * undefined when it is none of them, so queries and bodies carry the generated enum types without casts.
 */
export function oneOf<T extends string>(allowed: readonly T[], value: unknown): T | undefined {
  return (allowed as readonly unknown[]).includes(value) ? (value as T) : undefined
}

/** The values of a list of select options. */
export function values<T extends string>(options: readonly { value: T }[]): T[] {
  return options.map((o) => o.value)
}
