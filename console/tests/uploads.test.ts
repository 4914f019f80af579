import { describe, expect, it } from 'vitest'
import { acceptedTypes, formatBytes, precheck, roomFor } from '@/lib/uploads'

describe('uploads before they are sent', () => {
  it('offers PDF only for evidence', () => {
    expect(acceptedTypes('evidence')).toContain('application/pdf')
    expect(acceptedTypes('activity_photo')).not.toContain('application/pdf')
  })

  it('refuses empty, too large and wrong-typed files with the file name', () => {
    expect(precheck({ name: 'a.jpg', size: 0, type: 'image/jpeg' }, 'activity_photo')).toBe('「a.jpg」是空文件')
    expect(precheck({ name: 'b.jpg', size: 11 * 1024 * 1024, type: 'image/jpeg' }, 'activity_photo')).toContain('超过了 10.0 MB')
    expect(precheck({ name: 'c.pdf', size: 100, type: 'application/pdf' }, 'activity_photo')).toContain('不是 JPEG')
    expect(precheck({ name: 'c.pdf', size: 100, type: 'application/pdf' }, 'evidence')).toBeNull()
    expect(precheck({ name: 'd.heic', size: 100, type: '' }, 'activity_photo')).toBeNull()
  })

  it('keeps to the maximum and says how many were left out', () => {
    expect(roomFor(18, 5, 20)).toEqual({ take: 2, note: '最多 20 个文件，已略去 3 个' })
    expect(roomFor(0, 3, 9)).toEqual({ take: 3, note: null })
    expect(roomFor(9, 1, 9).take).toBe(0)
  })

  it('formats sizes as people read them', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(2048)).toBe('2 KB')
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MB')
  })
})
