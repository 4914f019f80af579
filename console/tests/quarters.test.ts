import { describe, expect, it } from 'vitest'
import { quarterLabel, quarterOf, share, shiftQuarter } from '@/lib/quarters'

describe('quarters', () => {
  it('finds the quarter of a date', () => {
    expect(quarterOf('2026-01-01')).toEqual({ year: 2026, quarter: 1 })
    expect(quarterOf('2026-03-31')).toEqual({ year: 2026, quarter: 1 })
    expect(quarterOf('2026-04-01')).toEqual({ year: 2026, quarter: 2 })
    expect(quarterOf('2026-12-05')).toEqual({ year: 2026, quarter: 4 })
  })

  it('steps across years', () => {
    expect(shiftQuarter({ year: 2026, quarter: 1 }, -1)).toEqual({ year: 2025, quarter: 4 })
    expect(shiftQuarter({ year: 2026, quarter: 4 }, 1)).toEqual({ year: 2027, quarter: 1 })
    expect(shiftQuarter({ year: 2026, quarter: 2 }, -6)).toEqual({ year: 2024, quarter: 4 })
    expect(quarterLabel({ year: 2026, quarter: 4 })).toBe('2026年第4季度')
  })

  it('computes the trained share', () => {
    expect(share(3, 4)).toBe(75)
    expect(share(0, 0)).toBe(0)
  })
})
