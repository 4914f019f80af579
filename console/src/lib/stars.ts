// 星级评定: star applications as an admin reviews them (GET /star-applications, review, objections,
// revoke) and the star rules of the admin's region (GET/PUT/DELETE /regions/{id}/star-rules). Rules
// are inherited value by value down the region tree: the API answers, for each value, the region it
// comes from (null = the system default), and the names of those regions.

export type StarStatus = 'pending' | 'publicity' | 'awarded' | 'rejected' | 'revoked'
export type StarSource = 'scan' | 'manual' | 'bulk' | 'declaration' | 'retroactive' | 'import'
export type ApprovalLevel = 'city' | 'district' | 'street'

type TagType = 'primary' | 'success' | 'warning' | 'info' | 'danger'

export const STATUS_TABS: readonly { value: StarStatus; label: string }[] = [
  { value: 'pending', label: '待审核' },
  { value: 'publicity', label: '公示中' },
  { value: 'awarded', label: '已评定' },
  { value: 'rejected', label: '未通过' },
  { value: 'revoked', label: '已撤销' },
]

const STATUS_TAGS: Record<StarStatus, TagType> = {
  pending: 'warning', publicity: 'primary', awarded: 'success', rejected: 'info', revoked: 'danger',
}

export function starStatus(status: string): { text: string; type: TagType } {
  const tab = STATUS_TABS.find((t) => t.value === status)
  return { text: tab?.label ?? status, type: STATUS_TAGS[status as StarStatus] ?? 'info' }
}

/** "★★★☆☆ 3 星". */
export function levelText(level: number): string {
  const n = Math.max(0, Math.min(5, Math.round(level)))
  return `${'★'.repeat(n)}${'☆'.repeat(5 - n)} ${n} 星`
}

export function originLabel(origin: string): string {
  return origin === 'volunteer' ? '本人申请' : '系统发起'
}

/** "126.5 小时". */
export function hoursText(hours: number | null | undefined): string {
  if (hours === null || hours === undefined || !Number.isFinite(hours)) return '—'
  return `${Number.isInteger(hours) ? hours : Math.round(hours * 100) / 100} 小时`
}

export const SOURCE_OPTIONS: readonly { value: StarSource; label: string }[] = [
  { value: 'scan', label: '扫码签到' },
  { value: 'manual', label: '组织更正' },
  { value: 'bulk', label: '批量录入' },
  { value: 'declaration', label: '自主申报' },
  { value: 'retroactive', label: '补录' },
  { value: 'import', label: '导入' },
]

export const APPROVAL_OPTIONS: readonly { value: ApprovalLevel; label: string }[] = [
  { value: 'street', label: '镇街' },
  { value: 'district', label: '区县' },
  { value: 'city', label: '市' },
]

export function sourcesText(sources: readonly string[]): string {
  return sources.map((s) => SOURCE_OPTIONS.find((o) => o.value === s)?.label ?? s).join('、')
}

export function approvalText(level: string): string {
  return APPROVAL_OPTIONS.find((o) => o.value === level)?.label ?? level
}

/** "1–2★ 镇街、3–4★ 区县、5★ 市": consecutive stars with the same level read as one range. */
export function approvalLevelsText(levels: readonly string[]): string {
  const parts: string[] = []
  let start = 0
  for (let i = 1; i <= levels.length; i += 1) {
    if (i === levels.length || levels[i] !== levels[start]) {
      const stars = i - 1 === start ? `${start + 1}★` : `${start + 1}–${i}★`
      parts.push(`${stars} ${approvalText(levels[start])}`)
      start = i
    }
  }
  return parts.join('、')
}

export function publicityText(days: number, workingDays: boolean): string {
  return `${days} 个${workingDays ? '工作日' : '自然日'}`
}

export const RULE_FIELDS = ['thresholds_hours', 'min_months', 'sources', 'approval_levels', 'publicity_days',
  'publicity_working_days'] as const
export type RuleField = (typeof RULE_FIELDS)[number]

export const RULE_LABELS: Record<RuleField, string> = {
  thresholds_hours: '各星级所需时长',
  min_months: '注册满月数',
  sources: '计入的时长来源',
  approval_levels: '各星级审核层级',
  publicity_days: '公示天数',
  publicity_working_days: '公示按工作日计算',
}

export interface InForceLike {
  origins: Record<string, number | null>
  origin_names: Record<string, string>
}

/** "本级设置", "继承自 重庆市", "系统默认" for one value in force at `regionId`. */
export function ruleOriginText(inForce: InForceLike, field: string, regionId: number): string {
  const origin = inForce.origins[field]
  if (origin === null || origin === undefined) return '系统默认'
  if (origin === regionId) return '本级设置'
  return `继承自 ${inForce.origin_names[String(origin)] ?? `上级地区 #${origin}`}`
}

export function ruleOriginKind(inForce: InForceLike, field: string, regionId: number): 'own' | 'inherited' | 'default' {
  const origin = inForce.origins[field]
  if (origin === null || origin === undefined) return 'default'
  return origin === regionId ? 'own' : 'inherited'
}

export interface RulesValuesLike {
  thresholds_hours: number[] | null
  min_months: number | null
  sources: string[] | null
  approval_levels: string[] | null
  publicity_days: number | null
  publicity_working_days: boolean | null
}

export interface RulesInForceValues {
  thresholds_hours: number[]
  min_months: number
  sources: string[]
  approval_levels: string[]
  publicity_days: number
  publicity_working_days: boolean
}

/**
 * The edit form: each value has an "set here" switch; an unset value is inherited (sent as null).
 * The inputs start from the region's own values, else the values in force (what the admin sees now).
 */
export interface RulesForm {
  set: Record<RuleField, boolean>
  thresholds_hours: (number | null)[]
  min_months: number | null
  sources: StarSource[]
  approval_levels: ApprovalLevel[]
  publicity_days: number | null
  publicity_working_days: boolean
}

export function formFrom(own: RulesValuesLike | null, inForce: RulesInForceValues): RulesForm {
  const set = Object.fromEntries(RULE_FIELDS.map((f) => [f, own !== null && own[f] !== null])) as Record<RuleField, boolean>
  return {
    set,
    thresholds_hours: [...(own?.thresholds_hours ?? inForce.thresholds_hours)],
    min_months: own?.min_months ?? inForce.min_months,
    sources: [...(own?.sources ?? inForce.sources)] as StarSource[],
    approval_levels: [...(own?.approval_levels ?? inForce.approval_levels)] as ApprovalLevel[],
    publicity_days: own?.publicity_days ?? inForce.publicity_days,
    publicity_working_days: own?.publicity_working_days ?? inForce.publicity_working_days,
  }
}

export interface RulesBody {
  thresholds_hours: number[] | null
  min_months: number | null
  sources: StarSource[] | null
  approval_levels: ApprovalLevel[] | null
  publicity_days: number | null
  publicity_working_days: boolean | null
}

/** The PUT body: the values set here, null for those inherited. */
export function bodyFrom(form: RulesForm): RulesBody {
  return {
    thresholds_hours: form.set.thresholds_hours ? form.thresholds_hours.map((h) => Number(h)) : null,
    min_months: form.set.min_months ? form.min_months : null,
    sources: form.set.sources ? [...form.sources] : null,
    approval_levels: form.set.approval_levels ? [...form.approval_levels] : null,
    publicity_days: form.set.publicity_days ? form.publicity_days : null,
    publicity_working_days: form.set.publicity_working_days ? form.publicity_working_days : null,
  }
}

/**
 * Errors before the form goes to the API (which checks the same and answers field errors too): five
 * rising positive whole numbers of hours, at least one counted source, publicity 1–60 days, months 0–240.
 */
export function checkRules(form: RulesForm): Partial<Record<RuleField, string>> {
  const errors: Partial<Record<RuleField, string>> = {}
  if (form.set.thresholds_hours) {
    const hours = form.thresholds_hours
    if (hours.length !== 5 || hours.some((h) => h === null || !Number.isInteger(h) || h <= 0)) {
      errors.thresholds_hours = '请为 1 至 5 星各填一个正整数小时数'
    } else if (hours.some((h, i) => i > 0 && h! <= hours[i - 1]!)) {
      errors.thresholds_hours = '星级越高所需时长应越多'
    }
  }
  if (form.set.min_months && (form.min_months === null || !Number.isInteger(form.min_months) || form.min_months < 0 || form.min_months > 240)) {
    errors.min_months = '请填写 0 至 240 之间的整数'
  }
  if (form.set.sources && form.sources.length === 0) errors.sources = '至少选择一种计入的时长来源'
  if (form.set.approval_levels && form.approval_levels.length !== 5) errors.approval_levels = '请为 1 至 5 星各选一个审核层级'
  if (form.set.publicity_days && (form.publicity_days === null || !Number.isInteger(form.publicity_days) || form.publicity_days < 1 || form.publicity_days > 60)) {
    errors.publicity_days = '请填写 1 至 60 之间的整数'
  }
  return errors
}

export interface ApplicationLike {
  status: string
  open_objections: number
}

/** What the drawer offers for an application's state; the API still decides who may. */
export function actionsFor(app: ApplicationLike): { review: boolean; decideObjections: boolean; revoke: boolean } {
  return {
    review: app.status === 'pending',
    decideObjections: app.status === 'publicity' && app.open_objections > 0,
    revoke: app.status === 'awarded',
  }
}

