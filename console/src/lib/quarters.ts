// Quarters for the training compliance page: which quarter a Beijing date is in, the one before or after.

export interface QuarterRef { year: number; quarter: number }

export function quarterOf(isoDate: string): QuarterRef {
  const [y, m] = isoDate.slice(0, 7).split('-').map(Number)
  return { year: y, quarter: Math.floor((m - 1) / 3) + 1 }
}

export function shiftQuarter(q: QuarterRef, by: number): QuarterRef {
  const index = q.year * 4 + (q.quarter - 1) + by
  return { year: Math.floor(index / 4), quarter: (index % 4) + 1 }
}

export function quarterLabel(q: QuarterRef): string {
  return `${q.year}年第${q.quarter}季度`
}

/** Trained share as a whole percent (0 when there is nothing to count). */
export function share(trained: number, total: number): number {
  return total ? Math.round((trained * 100) / total) : 0
}
