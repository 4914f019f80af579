import { shanghaiToIso } from './time'

// 补录: an organiser enters service held outside the system (its times as typed, Beijing time), who
// attended and the evidence; an admin of a region above approves it. The window (default 90 days)
// is the API's: the page shows its refusal as it is.

export const RETROACTIVE_STATUS: Record<string, [string, 'warning' | 'success' | 'danger']> = {
  pending: ['待审批', 'warning'],
  approved: ['已通过并计入', 'success'],
  rejected: ['已驳回', 'danger'],
}

export interface AttendeeDraft {
  volunteer_id: number
  name: string
  /** "YYYY-MM-DD HH:mm", or empty for the activity's own time */
  started_at: string
  ended_at: string
}

export interface RetroactiveDraft {
  title: string
  place: string
  beneficiary: string
  content: string
  starts_at: string
  ends_at: string
  attendees: AttendeeDraft[]
  evidence: { token: string }[]
}

export function emptyDraft(): RetroactiveDraft {
  return { title: '', place: '', beneficiary: '', content: '', starts_at: '', ends_at: '', attendees: [], evidence: [] }
}

/** What keeps the draft from being sent, by field (the API checks again, and the window too). */
export function draftProblems(draft: RetroactiveDraft, now: Date = new Date()): Record<string, string> {
  const problems: Record<string, string> = {}
  if (draft.title.trim().length < 2) problems.title = '请填写活动名称（至少 2 个字）'
  if (draft.place.trim().length < 2) problems.place = '请填写服务地点'
  const starts = shanghaiToIso(draft.starts_at)
  const ends = shanghaiToIso(draft.ends_at)
  if (!starts) problems.starts_at = '请选择开始时间'
  if (!ends) problems.ends_at = '请选择结束时间'
  if (starts && ends) {
    if (Date.parse(ends) <= Date.parse(starts)) problems.ends_at = '结束时间应晚于开始时间'
    else if (Date.parse(ends) > now.getTime()) problems.ends_at = '只能补录已经结束的活动'
  }
  if (!draft.attendees.length) problems.attendees = '请添加参加人员'
  draft.attendees.forEach((a) => {
    const from = a.started_at ? shanghaiToIso(a.started_at) : starts
    const to = a.ended_at ? shanghaiToIso(a.ended_at) : ends
    if (from && to && Date.parse(to) <= Date.parse(from)) problems.attendees = `${a.name}的离开时间应晚于到达时间`
  })
  if (!draft.evidence.length) problems.evidence = '请上传证明材料：现场照片或签到表扫描件'
  return problems
}

/** The API's body (without the nonce); an attendee's empty times mean the activity's. */
export function retroactiveBody(draft: RetroactiveDraft) {
  return {
    title: draft.title.trim(),
    place: draft.place.trim(),
    beneficiary: draft.beneficiary.trim(),
    content: draft.content.trim(),
    starts_at: shanghaiToIso(draft.starts_at) ?? '',
    ends_at: shanghaiToIso(draft.ends_at) ?? '',
    attendees: draft.attendees.map((a) => ({
      volunteer_id: a.volunteer_id,
      started_at: a.started_at ? shanghaiToIso(a.started_at) : null,
      ended_at: a.ended_at ? shanghaiToIso(a.ended_at) : null,
    })),
    evidence: draft.evidence.map((file) => file.token),
  }
}

/** Add a picked volunteer once. */
export function withAttendee(list: AttendeeDraft[], volunteer: { id: number; name: string }): AttendeeDraft[] {
  if (list.some((a) => a.volunteer_id === volunteer.id)) return list
  return [...list, { volunteer_id: volunteer.id, name: volunteer.name, started_at: '', ended_at: '' }]
}

/** A photo shows as its thumbnail; anything else (a scanned sheet) as a PDF link. */
export function isImage(file: { content_type?: string | null; thumbnail_url?: string | null }): boolean {
  return Boolean(file.thumbnail_url) || (file.content_type ?? '').startsWith('image/')
}
