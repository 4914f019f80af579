import { describe, expect, it, vi } from 'vitest'
import { recordIdFor } from '@/lib/attendance'

const detail = { service: { recent: [{ id: 51, activity_id: 8 }, { id: 50, activity_id: 7 }] } }

describe('the record a correction goes to', () => {
  it('uses the sheet line’s record_id without asking for the volunteer’s detail', async () => {
    const lookup = vi.fn(async () => detail)
    expect(await recordIdFor({ volunteer: { id: 3 }, record_id: 99 }, 7, lookup)).toBe(99)
    expect(lookup).not.toHaveBeenCalled()
  })

  it('takes a null record_id as “no record yet”', async () => {
    const lookup = vi.fn(async () => detail)
    expect(await recordIdFor({ volunteer: { id: 3 }, record_id: null }, 7, lookup)).toBeNull()
    expect(lookup).not.toHaveBeenCalled()
  })

  it('falls back to the volunteer’s latest record at the activity while the field is absent', async () => {
    const lookup = vi.fn(async () => detail)
    expect(await recordIdFor({ volunteer: { id: 3 } }, 7, lookup)).toBe(50)
    expect(lookup).toHaveBeenCalledWith(3)
    expect(await recordIdFor({ volunteer: { id: 3 } }, 9, lookup)).toBeNull()
  })
})
