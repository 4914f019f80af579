// 积分: an organisation's bonus pool (balance, ledger lines, bonuses to volunteers, funding by an
// admin), the points rules of an admin's region (GET/PUT/DELETE /regions/{id}/points-rules) and the
// rankings (masked names, only volunteers who agreed). Where a rule value comes from reuses the star
// rules' helpers (lib/stars.ts): same API shape (origins + origin_names).
import { ruleOriginKind, ruleOriginText, sourcesText, SOURCE_OPTIONS, type InForceLike, type StarSource } from './stars'

export { ruleOriginKind, ruleOriginText, SOURCE_OPTIONS }

export const RULE_FIELDS = ['points_per_hour', 'grade_coefficients', 'sources', 'yearly_cap', 'expiry_months',
  'gift_max_per_gift', 'gift_max_per_year', 'bonus_cap_per_activity', 'earning_starts_on'] as const
export type PointsRuleField = (typeof RULE_FIELDS)[number]

export const RULE_LABELS: Record<PointsRuleField, string> = {
  points_per_hour: '每小时积分',
  grade_coefficients: '活动分级系数',
  sources: '计积分的时长来源',
  yearly_cap: '每年服务积分上限',
  expiry_months: '积分有效期',
  gift_max_per_gift: '每次转赠上限',
  gift_max_per_year: '每年转赠上限',
  bonus_cap_per_activity: '组织奖励上限（每人每活动）',
  earning_starts_on: '积分起算日',
}

export interface PointsRulesInForce extends InForceLike {
  points_per_hour: number
  grade_coefficients: number[]
  sources: string[]
  yearly_cap: number
  expiry_months: number
  gift_max_per_gift: number
  gift_max_per_year: number
  bonus_cap_per_activity: number
  earning_starts_on: string | null
}

export type PointsRulesValues = { [K in PointsRuleField]: PointsRulesInForce[K] | null }

/** 0 means "no limit" for caps and "never" for expiry. */
function limitText(n: number, unit: string): string {
  return n === 0 ? '不限' : `${n} ${unit}`
}

/** How a value in force reads in the rules table. */
export function ruleValueText(field: PointsRuleField, inForce: PointsRulesInForce): string {
  switch (field) {
    case 'points_per_hour': return `${inForce.points_per_hour} 分/小时`
    case 'grade_coefficients': return inForce.grade_coefficients.map((c, i) => `${['一', '二', '三'][i] ?? i + 1}级 ×${c}`).join('，')
    case 'sources': return sourcesText(inForce.sources)
    case 'yearly_cap': return limitText(inForce.yearly_cap, '分')
    case 'expiry_months': return inForce.expiry_months === 0 ? '不过期' : `${inForce.expiry_months} 个月`
    case 'gift_max_per_gift': return limitText(inForce.gift_max_per_gift, '分')
    case 'gift_max_per_year': return limitText(inForce.gift_max_per_year, '分')
    case 'bonus_cap_per_activity': return limitText(inForce.bonus_cap_per_activity, '分')
    case 'earning_starts_on': return inForce.earning_starts_on ? `${inForce.earning_starts_on} 起开始的活动` : '不限'
  }
}

export interface PointsRulesForm {
  set: Record<PointsRuleField, boolean>
  points_per_hour: number | null
  grade_coefficients: (number | null)[]
  sources: StarSource[]
  yearly_cap: number | null
  expiry_months: number | null
  gift_max_per_gift: number | null
  gift_max_per_year: number | null
  bonus_cap_per_activity: number | null
  earning_starts_on: string | null
}

/** The edit form starts from the region's own values, else those in force; a value not set here is inherited. */
export function pointsFormFrom(own: PointsRulesValues | null, inForce: PointsRulesInForce): PointsRulesForm {
  const set = Object.fromEntries(RULE_FIELDS.map((f) => [f, own !== null && own[f] !== null])) as Record<PointsRuleField, boolean>
  return {
    set,
    points_per_hour: own?.points_per_hour ?? inForce.points_per_hour,
    grade_coefficients: [...(own?.grade_coefficients ?? inForce.grade_coefficients)],
    sources: [...(own?.sources ?? inForce.sources)] as StarSource[],
    yearly_cap: own?.yearly_cap ?? inForce.yearly_cap,
    expiry_months: own?.expiry_months ?? inForce.expiry_months,
    gift_max_per_gift: own?.gift_max_per_gift ?? inForce.gift_max_per_gift,
    gift_max_per_year: own?.gift_max_per_year ?? inForce.gift_max_per_year,
    bonus_cap_per_activity: own?.bonus_cap_per_activity ?? inForce.bonus_cap_per_activity,
    earning_starts_on: own?.earning_starts_on ?? inForce.earning_starts_on,
  }
}

export interface PointsRulesBody {
  points_per_hour: number | null
  grade_coefficients: number[] | null
  sources: StarSource[] | null
  yearly_cap: number | null
  expiry_months: number | null
  gift_max_per_gift: number | null
  gift_max_per_year: number | null
  bonus_cap_per_activity: number | null
  earning_starts_on: string | null
}

/** The PUT body: the values set here, null for the inherited ones. */
export function pointsBodyFrom(form: PointsRulesForm): PointsRulesBody {
  const pick = <K extends PointsRuleField>(f: K) => (form.set[f] ? form[f] : null)
  return {
    points_per_hour: pick('points_per_hour') as number | null,
    grade_coefficients: form.set.grade_coefficients ? form.grade_coefficients.map((c) => Number(c)) : null,
    sources: form.set.sources ? [...form.sources] : null,
    yearly_cap: pick('yearly_cap') as number | null,
    expiry_months: pick('expiry_months') as number | null,
    gift_max_per_gift: pick('gift_max_per_gift') as number | null,
    gift_max_per_year: pick('gift_max_per_year') as number | null,
    bonus_cap_per_activity: pick('bonus_cap_per_activity') as number | null,
    earning_starts_on: pick('earning_starts_on') as string | null,
  }
}

const INT_LIMITS: Partial<Record<PointsRuleField, number>> = {
  points_per_hour: 1000, yearly_cap: 10_000_000, expiry_months: 240, gift_max_per_gift: 10_000_000,
  gift_max_per_year: 10_000_000, bonus_cap_per_activity: 10_000_000,
}

/** The same bounds the API checks, said before sending. */
export function checkPointsRules(form: PointsRulesForm): Partial<Record<PointsRuleField, string>> {
  const errors: Partial<Record<PointsRuleField, string>> = {}
  for (const [field, max] of Object.entries(INT_LIMITS) as [PointsRuleField, number][]) {
    const value = form[field] as number | null
    if (form.set[field] && (value === null || !Number.isInteger(value) || value < 0 || value > max)) {
      errors[field] = `请填写 0 至 ${max} 之间的整数`
    }
  }
  if (form.set.grade_coefficients
    && (form.grade_coefficients.length !== 3 || form.grade_coefficients.some((c) => c === null || !Number.isFinite(c) || c < 0))) {
    errors.grade_coefficients = '请为一、二、三级活动各填一个不小于 0 的系数'
  }
  if (form.set.sources && form.sources.length === 0) errors.sources = '至少选择一种时长来源'
  if (form.set.earning_starts_on && !/^\d{4}-\d{2}-\d{2}$/.test(form.earning_starts_on ?? '')) {
    errors.earning_starts_on = '请选择起算日期'
  }
  return errors
}

// --- pool lines and bonuses -------------------------------------------------------------------------

/** "+120" / "-30": the sign is the direction for the account the lines belong to. */
export function amountText(amount: number): string {
  return amount > 0 ? `+${amount}` : String(amount)
}

export function amountClass(amount: number): string {
  return amount > 0 ? 'points-in' : amount < 0 ? 'points-out' : ''
}

/** "activity:12" → "活动 #12" for the few references a pool line carries; other references as they are. */
export function referenceText(reference: string | null | undefined): string {
  if (!reference) return '—'
  const [kind, id] = reference.split(':', 2)
  const names: Record<string, string> = {
    activity: '活动', service_record: '服务记录', redemption: '兑换', volunteer: '志愿者', organization: '组织',
  }
  return names[kind] && id ? `${names[kind]} #${id}` : reference
}

export interface BonusForm {
  volunteerId: number | null
  activityId: number | null
  amount: number | null
  reason: string
}

export const BONUS_REASON_MAX = 100

/** Errors before a bonus goes to the API; the cap is the API's to check (it knows what was given already). */
export function checkBonus(form: BonusForm, balance: number | null): Partial<Record<'volunteer' | 'activity' | 'amount' | 'reason', string>> {
  const errors: Partial<Record<'volunteer' | 'activity' | 'amount' | 'reason', string>> = {}
  const reason = form.reason.trim()
  if (!reason) errors.reason = '请填写奖励理由，如“暴雨夜坚守岗位”'
  else if (reason.length > BONUS_REASON_MAX) errors.reason = `奖励理由最多 ${BONUS_REASON_MAX} 个字`
  if (!form.volunteerId) errors.volunteer = '请选择志愿者'
  if (!form.activityId) errors.activity = '请选择活动'
  if (form.amount === null || !Number.isInteger(form.amount) || form.amount < 1) errors.amount = '请填写正整数积分'
  else if (balance !== null && form.amount > balance) errors.amount = `奖励池余额只有 ${balance} 分`
  return errors
}

export function checkFunding(amount: number | null): string | null {
  if (amount === null || !Number.isInteger(amount) || amount < 1 || amount > 100_000_000) return '请填写 1 至 100000000 之间的整数'
  return null
}

// --- the ledger of any account (admins) ----------------------------------------------------------------

export interface LedgerLineLike {
  code_label: string
  counterparty?: string | null
  origin?: string | null
  memo?: string | null
  reference?: string | null
}

/** What a line says besides its amount: 来由 in words (else the raw reference), then the memo in quotes. */
export function lineDetail(line: LedgerLineLike): string {
  const origin = line.origin ?? (line.reference ? referenceText(line.reference) : '')
  const memo = line.memo ? `「${line.memo}」` : ''
  return [origin, memo].filter(Boolean).join(' ') || '—'
}

/** A volunteer number as typed: trimmed, or null when empty (the API then lists the region's other accounts). */
export function volunteerNumberQuery(text: string): string | null {
  const value = text.trim()
  return value === '' ? null : value
}

export interface AccountLike { id: number; kind_label: string; name: string; balance: number }

/** How an account reads in the picker: 「一社区 积分发行（余额 -100）」. */
export function accountText(account: AccountLike): string {
  return `${account.name}（余额 ${account.balance}）`
}

/** The activity form's 积分等级 choices: 「二级（×1.2）」; 0 is ungraded (null in the API), counted ×1. */
export function gradeOptions(grades: { grade: number; label: string; coefficient: number }[]): { value: number; label: string }[] {
  return [{ value: 0, label: '未分级（×1）' }, ...grades.map((g) => ({ value: g.grade, label: `${g.label}（×${g.coefficient}）` }))]
}

export interface RankingLineLike { rank: number; name: string | null; points: number }

/** A masked name, or 「匿名」 when the API leaves it out. */
export function rankingName(line: RankingLineLike): string {
  return line.name ?? '匿名'
}

export function yearOptions(now: Date, back = 4): number[] {
  const year = now.getFullYear()
  return Array.from({ length: back + 1 }, (_, i) => year - i)
}

export const RANKING_NOTE = '仅显示本人同意公开的志愿者'
