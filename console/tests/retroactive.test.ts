import { describe, expect, it } from 'vitest'
import { draftProblems, emptyDraft, isImage, retroactiveBody, withAttendee, type RetroactiveDraft } from '@/lib/retroactive'

const now = new Date('2026-12-05T04:00:00Z') // 12:00 in Beijing

function draft(over: Partial<RetroactiveDraft> = {}): RetroactiveDraft {
  return {
    ...emptyDraft(), title: '社区环境清扫', place: '解放碑社区', starts_at: '2026-12-01 09:00', ends_at: '2026-12-01 11:30',
    attendees: [{ volunteer_id: 4, name: '赵敏', started_at: '', ended_at: '' }], evidence: [{ token: 't1' }], ...over,
  }
}

describe('retroactive entries before they are sent', () => {
  it('accepts a finished activity with attendees and evidence', () => {
    expect(draftProblems(draft(), now)).toEqual({})
  })

  it('names what is missing or wrong by field', () => {
    const problems = draftProblems(emptyDraft(), now)
    expect(Object.keys(problems).sort()).toEqual(['attendees', 'ends_at', 'evidence', 'place', 'starts_at', 'title'])
    expect(draftProblems(draft({ ends_at: '2026-12-01 08:00' }), now).ends_at).toBe('结束时间应晚于开始时间')
    expect(draftProblems(draft({ starts_at: '2026-12-05 11:00', ends_at: '2026-12-05 13:00' }), now).ends_at).toBe('只能补录已经结束的活动')
    const late = draft({ attendees: [{ volunteer_id: 4, name: '赵敏', started_at: '2026-12-01 10:00', ended_at: '2026-12-01 09:30' }] })
    expect(draftProblems(late, now).attendees).toContain('赵敏')
  })

  it('sends Beijing times with their offset and leaves an attendee without times to the activity', () => {
    const body = retroactiveBody(draft({ attendees: [
      { volunteer_id: 4, name: '赵敏', started_at: '', ended_at: '' },
      { volunteer_id: 5, name: '钱军', started_at: '2026-12-01 10:00', ended_at: '' },
    ] }))
    expect(body.starts_at).toBe('2026-12-01T09:00:00+08:00')
    expect(body.attendees).toEqual([
      { volunteer_id: 4, started_at: null, ended_at: null },
      { volunteer_id: 5, started_at: '2026-12-01T10:00:00+08:00', ended_at: null },
    ])
    expect(body.evidence).toEqual(['t1'])
  })

  it('adds an attendee once and tells photos from scans', () => {
    const once = withAttendee([], { id: 4, name: '赵敏' })
    expect(withAttendee(once, { id: 4, name: '赵敏' })).toHaveLength(1)
    expect(isImage({ content_type: 'image/jpeg', thumbnail_url: 'x' })).toBe(true)
    expect(isImage({ content_type: 'application/pdf', thumbnail_url: null })).toBe(false)
  })
})
