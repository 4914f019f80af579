// Chinese names of the API's enumerations, in one place.
import type { BodyOf, QueryOf } from '@/api/types'
type TagType = 'success' | 'warning' | 'danger' | 'info' | 'primary'

export interface Label { text: string; type: TagType }

function table(entries: Record<string, [string, TagType]>) {
  return (value: string | null | undefined): Label => {
    if (!value) return { text: '—', type: 'info' }
    const found = entries[value]
    return found ? { text: found[0], type: found[1] } : { text: value, type: 'info' }
  }
}

export const volunteerStatus = table({
  pending: ['待审核', 'warning'], approved: ['已通过', 'success'], rejected: ['未通过', 'danger'],
  suspended: ['已暂停', 'danger'], deleted: ['已注销', 'info'],
})

export const organizationStatus = table({
  pending: ['待审核', 'warning'], approved: ['已通过', 'success'], rejected: ['未通过', 'danger'],
})

export const membershipStatus = table({
  requested: ['申请中', 'warning'], invited: ['已邀请', 'primary'], active: ['在队', 'success'],
  rejected: ['未通过', 'danger'], removed: ['已移出', 'info'],
})

export const signupStatus = table({
  pending: ['待审核', 'warning'], approved: ['已报名', 'success'], confirmed: ['已报名', 'success'],
  waitlisted: ['候补', 'primary'], rejected: ['未通过', 'danger'], cancelled: ['已取消', 'info'],
  attended: ['已参加', 'success'], absent: ['缺席', 'danger'],
})

export const activityStatus = table({
  draft: ['草稿', 'info'], published: ['已发布', 'primary'], ongoing: ['进行中', 'success'],
  finished: ['已结束', 'info'], cancelled: ['已取消', 'danger'],
})

export const recordKind = table({
  checkin: ['签到记录', 'success'], credit: ['信用时长', 'success'], honour: ['荣誉时长', 'primary'],
  honor: ['荣誉时长', 'primary'], manual: ['补录', 'warning'], correction: ['更正', 'warning'],
})

// Option values typed by the API's enums (a value the API does not know fails the type-check).
type Category = NonNullable<QueryOf<'/api/v1/volunteers'>['category']>
type OrganizationKind = BodyOf<'/api/v1/organizations'>['kind']
type TeamKind = NonNullable<BodyOf<'/api/v1/organizations/{organization_id}/teams'>['kind']>
type JoinMode = NonNullable<BodyOf<'/api/v1/organizations/{organization_id}/teams'>['join_mode']>
type VolunteerSort = NonNullable<QueryOf<'/api/v1/volunteers'>['sort']>
type VolunteerState = NonNullable<QueryOf<'/api/v1/volunteers'>['status']>

export const VOLUNTEER_STATES: VolunteerState[] = ['pending', 'approved', 'rejected', 'suspended']
export const VOLUNTEER_SORTS: VolunteerSort[] = ['created_at', '-created_at', 'real_name', '-real_name', 'total_service_minutes', '-total_service_minutes']

export const CATEGORY_OPTIONS: { value: Category; label: string }[] = [
  { value: 'party_member', label: '党员' }, { value: 'youth', label: '青年' }, { value: 'women', label: '巾帼' },
  { value: 'worker', label: '职工' }, { value: 'community', label: '社区' }, { value: 'student', label: '学生' },
  { value: 'retiree', label: '退休' }, { value: 'professional', label: '专业人士' }, { value: 'other', label: '其他' },
]

export function categoryLabel(value: string): string {
  return CATEGORY_OPTIONS.find((c) => c.value === value)?.label ?? value
}

export const GENDER_LABELS: Record<string, string> = { male: '男', female: '女', M: '男', F: '女' }

export const ORGANIZATION_KINDS: { value: OrganizationKind; label: string }[] = [
  { value: 'social', label: '社会组织' }, { value: 'government', label: '机关' },
  { value: 'enterprise', label: '企事业单位' }, { value: 'school', label: '学校' },
  { value: 'community', label: '社区' }, { value: 'other', label: '其他' },
]

export function organizationKindLabel(value: string | null | undefined): string {
  return ORGANIZATION_KINDS.find((k) => k.value === value)?.label ?? (value || '—')
}

export const TEAM_KINDS: { value: TeamKind; label: string }[] = [
  { value: 'general', label: '综合' }, { value: 'education', label: '教育' }, { value: 'culture_sports', label: '文体' },
  { value: 'science', label: '科技' }, { value: 'medical', label: '医疗卫生' }, { value: 'legal', label: '法律' },
  { value: 'fire', label: '消防' }, { value: 'environment', label: '环保' }, { value: 'social_work', label: '社工' },
  { value: 'charity', label: '慈善' }, { value: 'traffic', label: '交通' }, { value: 'finance', label: '财务' },
]

export const JOIN_MODES: { value: JoinMode; label: string }[] = [
  { value: 'open', label: '直接加入' }, { value: 'approval', label: '需审核' }, { value: 'invitation', label: '仅限邀请' },
]

export function joinModeLabel(value: string): string {
  return JOIN_MODES.find((m) => m.value === value)?.label ?? value
}

export const REGION_LEVELS: Record<string, string> = { city: '市', district: '区县', street: '镇街', community: '社区（村）' }
