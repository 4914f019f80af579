// The activity pages: status names (every state the API has), the create/edit form and what it sends.
import { inShanghai, shanghaiToIso } from './time'
import type { Label } from './labels'
import type { BodyOf } from '@/api/types'
import { oneOf, values } from './enums'

type TagType = Label['type']

const STATUS: Record<string, [string, TagType]> = {
  draft: ['草稿', 'info'], published: ['已发布', 'primary'], ongoing: ['进行中', 'success'],
  finished: ['已结束', 'warning'], evaluated: ['已评价', 'info'], withdrawn: ['已撤回', 'info'], cancelled: ['已取消', 'danger'],
}

/** Filter chips of the list, in the order an organiser thinks of them. */
export const ACTIVITY_STATES = ['draft', 'published', 'ongoing', 'finished', 'evaluated', 'cancelled', 'withdrawn'] as const

export function activityStatusLabel(status: string | null | undefined): Label {
  if (!status) return { text: '—', type: 'info' }
  const found = STATUS[status]
  return found ? { text: found[0], type: found[1] } : { text: status, type: 'info' }
}

export const EVALUATIONS = [
  { value: 'excellent', label: '优秀' }, { value: 'qualified', label: '合格' }, { value: 'unqualified', label: '不合格' },
] as const

export function evaluationLabel(value: string | null | undefined): string {
  return EVALUATIONS.find((e) => e.value === value)?.label ?? '未评价'
}

export const RISK_LEVELS = [
  { value: 'low', label: '低' }, { value: 'medium', label: '中' }, { value: 'high', label: '高' },
] as const

export const SIGNUP_MODES = [
  { value: 'open', label: '直接报名' }, { value: 'approval', label: '需审核' },
] as const

export const ACTIVITY_KINDS = [
  { value: 'service', label: '志愿服务' }, { value: 'training', label: '培训' },
] as const

export const CARE_THEMES = ['空巢老人', '留守儿童', '困难职工', '残疾人', '党员', '文明旅游', '文明交通', '文明上网',
  '助老助残', '环境保护', '医疗健康', '法律援助', '应急救援', '文化体育', '科普教育', '社区治理'] as const

export const SHEET_FLAGS: Record<string, [string, TagType]> = {
  needs_review: ['待复核', 'warning'], forgotten_checkout: ['忘记签退', 'danger'], no_show: ['未到', 'info'],
  unconfirmed: ['时长待确认', 'primary'],
}

export const CHECKIN_METHODS: Record<string, string> = {
  captain_scan: '队长扫码', self_scan: '扫活动码', manual: '代签', official_qr: '公众号扫码', auto_close: '系统关闭',
}

/** What may still happen to an activity in each state (the API decides; this only hides buttons that cannot work). */
export function activityActions(status: string, hasSignups: boolean) {
  const open = status === 'draft' || status === 'published' || status === 'ongoing'
  return {
    edit: status === 'draft' || status === 'published' || status === 'ongoing',
    publish: status === 'draft',
    cancel: open,
    cancelWord: status === 'draft' || !hasSignups ? '撤回' : '取消活动',
    evaluate: status === 'finished' || status === 'evaluated',
    screen: status === 'published' || status === 'ongoing',
  }
}

/** The fields an activity's form and the activity itself share, by the same names and types. */
interface ActivityFields {
  title: string
  description: string
  kind: string
  themes: string[]
  address: string
  latitude: number | null
  longitude: number | null
  checkin_radius_m: number | null
  starts_at: string // "YYYY-MM-DD HH:mm", Beijing wall clock
  ends_at: string
  signup_mode: string
  required_skills: string[]
  min_age: number | null
  risk_level: string
  requires_insurance: boolean
  credit_margin_minutes: number
}

export interface ActivityForm extends ActivityFields {
  team_id: number | null
  region_id: number | null
  capacity: number | null
  points_grade: number | null // 1–3, null = ungraded (coefficient 1)
}

export interface ActivityLike extends ActivityFields {
  team: { id: number } | null
  region: { id: number; name?: string }
  capacity: number
  points_grade?: number | null
}

export function emptyForm(): ActivityForm {
  return {
    title: '', description: '', kind: 'service', themes: [], team_id: null, region_id: null, address: '',
    latitude: null, longitude: null, checkin_radius_m: null, starts_at: '', ends_at: '', capacity: 20,
    signup_mode: 'open', required_skills: [], min_age: null, risk_level: 'low', requires_insurance: false,
    credit_margin_minutes: 30, points_grade: null,
  }
}

export function wallClock(instant: string | null | undefined): string {
  return inShanghai(instant)?.format('YYYY-MM-DD HH:mm') ?? ''
}

export function formFromActivity(a: ActivityLike): ActivityForm {
  return {
    title: a.title, description: a.description, kind: a.kind, themes: [...a.themes], team_id: a.team?.id ?? null,
    region_id: a.region.id, address: a.address, latitude: a.latitude, longitude: a.longitude,
    checkin_radius_m: a.checkin_radius_m, starts_at: wallClock(a.starts_at), ends_at: wallClock(a.ends_at),
    capacity: a.capacity, signup_mode: a.signup_mode, required_skills: [...a.required_skills], min_age: a.min_age,
    risk_level: a.risk_level, requires_insurance: a.requires_insurance, credit_margin_minutes: a.credit_margin_minutes,
    points_grade: a.points_grade ?? null,
  }
}

/** Checks the console can make before asking (the API checks everything again); field → Chinese message. */
export function localProblems(form: ActivityForm): Record<string, string> {
  const problems: Record<string, string> = {}
  if (form.title.trim().length < 2) problems.title = '请填写活动名称（至少 2 个字）'
  if (form.address.trim().length < 2) problems.address = '请填写活动地点'
  if (!form.region_id) problems.region_id = '请选择活动所在社区（村）'
  if (!form.starts_at || !shanghaiToIso(form.starts_at)) problems.starts_at = '请选择开始时间'
  if (!form.ends_at || !shanghaiToIso(form.ends_at)) problems.ends_at = '请选择结束时间'
  else if (form.starts_at && form.ends_at <= form.starts_at) problems.ends_at = '需晚于开始时间'
  if (!form.capacity || form.capacity < 1) problems.capacity = '请填写招募人数'
  if ((form.latitude === null) !== (form.longitude === null)) {
    problems[form.latitude === null ? 'latitude' : 'longitude'] = '经纬度需同时填写'
  }
  if (form.checkin_radius_m !== null && (form.latitude === null || form.longitude === null)) {
    problems.checkin_radius_m = '设置签到范围需先填写经纬度'
  }
  return problems
}

type ActivityPatch = BodyOf<'/api/v1/activities/{activity_id}', 'patch'>
type ActivityCreate = BodyOf<'/api/v1/activities'>

function editable(form: ActivityForm): ActivityPatch {
  return {
    title: form.title.trim(), description: form.description, kind: oneOf(values(ACTIVITY_KINDS), form.kind),
    themes: form.themes.flatMap((t) => oneOf(CARE_THEMES, t) ?? []),
    team_id: form.team_id, address: form.address.trim(), latitude: form.latitude, longitude: form.longitude,
    checkin_radius_m: form.checkin_radius_m, starts_at: shanghaiToIso(form.starts_at) ?? undefined, ends_at: shanghaiToIso(form.ends_at) ?? undefined,
    capacity: form.capacity ?? undefined, signup_mode: oneOf(values(SIGNUP_MODES), form.signup_mode),
    required_skills: form.required_skills.map((s) => s.trim()).filter(Boolean),
    min_age: form.min_age, risk_level: oneOf(values(RISK_LEVELS), form.risk_level), requires_insurance: form.requires_insurance,
    credit_margin_minutes: form.credit_margin_minutes, points_grade: form.points_grade,
  }
}

/** POST /activities: every field, times as ISO 8601 with +08:00 (localProblems has checked the required ones). */
export function createBody(form: ActivityForm, organizationId: number, publish: boolean): ActivityCreate {
  const fields = editable(form)
  return {
    ...fields, title: fields.title ?? '', address: fields.address ?? '', starts_at: fields.starts_at ?? '', ends_at: fields.ends_at ?? '',
    capacity: fields.capacity ?? 0, organization_id: organizationId, region_id: form.region_id ?? 0, publish,
  }
}

/** PATCH /activities/{id}: only what changed (a new time tells everyone signed up, so unchanged times stay out). */
export function patchBody(form: ActivityForm, original: ActivityForm): ActivityPatch {
  const now: Record<string, unknown> = editable(form)
  const before: Record<string, unknown> = editable(original)
  const changes: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(now)) {
    if (JSON.stringify(value) !== JSON.stringify(before[key])) changes[key] = value
  }
  return changes
}

/** A link to look at the map point (AMap's public marker page; coordinates as typed). */
export function mapLink(latitude: number | null, longitude: number | null): string | null {
  if (latitude === null || longitude === null) return null
  return `https://uri.amap.com/marker?position=${longitude},${latitude}`
}
