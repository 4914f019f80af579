// 考核目标: the KPI catalogue as an admin reads and sets it (GET /kpi-catalogue, PUT and DELETE
// /regions/{id}/kpi-targets/{key}). Targets are inherited down the region tree: a region's own setting,
// else the nearest ancestor's, else the catalogue's default. Percent indicators keep the target in
// percent and the yellow band in points; the hours target is a yearly figure (prorated by the elapsed
// days of the year) with a band in percent of the target; counts are plain numbers.

export interface RegionRefLike {
  id: number
  name: string
}

export interface CatalogueItemLike {
  key: string
  label: string
  unit: string
  levels: readonly string[]
  definition: string
  default_target: number
  default_yellow_band: number
  target: number
  yellow_band: number
  source: RegionRefLike | null
}

export type TargetOrigin = 'own' | 'inherited' | 'default'

const LEVEL_NAMES: Record<string, string> = { city: '市', district: '区县', street: '镇街', community: '社区' }

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100)
}

/** Where the target in force at `regionId` comes from. */
export function targetOrigin(item: Pick<CatalogueItemLike, 'source'>, regionId: number): TargetOrigin {
  if (!item.source) return 'default'
  return item.source.id === regionId ? 'own' : 'inherited'
}

/** "本级设置", "继承自 渝中区", "系统默认". */
export function originText(item: Pick<CatalogueItemLike, 'source'>, regionId: number): string {
  const origin = targetOrigin(item, regionId)
  if (origin === 'own') return '本级设置'
  if (origin === 'inherited') return `继承自 ${item.source!.name}`
  return '系统默认'
}

/** The target as a person reads it: "≥ 13%", "全年 ≥ 25 小时", "≥ 6". */
export function targetText(unit: string, target: number): string {
  if (unit === 'percent') return `≥ ${trim(target)}%`
  if (unit === 'hours') return `全年 ≥ ${trim(target)} 小时`
  return `≥ ${trim(target)}`
}

/** The yellow band: "差 3 个百分点以内", "差目标的 20% 以内", "差 2 以内". */
export function bandText(unit: string, band: number): string {
  if (unit === 'percent') return `差 ${trim(band)} 个百分点以内`
  if (unit === 'hours') return `差目标的 ${trim(band)}% 以内`
  return `差 ${trim(band)} 以内`
}

/** The units the two inputs are in, for the edit form. */
export function inputUnits(unit: string): { target: string; band: string } {
  if (unit === 'percent') return { target: '%', band: '个百分点' }
  if (unit === 'hours') return { target: '小时/年', band: '% 的目标' }
  return { target: '', band: '' }
}

/** "市、区县、镇街、社区" (the levels an indicator applies to). */
export function levelsText(levels: readonly string[]): string {
  return levels.map((level) => LEVEL_NAMES[level] ?? level).join('、')
}

/**
 * Errors of the edit form before it goes to the API (which checks 0…100000): a percentage above 100,
 * a band that is not below the target (a band as wide as the target would paint everything yellow).
 */
export function checkTarget(unit: string, target: number | null | undefined, band: number | null | undefined): { target?: string; yellow_band?: string } {
  const errors: { target?: string; yellow_band?: string } = {}
  if (target === null || target === undefined || !Number.isFinite(target)) errors.target = '请填写目标'
  else if (target < 0) errors.target = '目标不能小于 0'
  else if (unit === 'percent' && target > 100) errors.target = '百分比不能超过 100'
  if (band === null || band === undefined || !Number.isFinite(band)) errors.yellow_band = '请填写黄灯区间'
  else if (band < 0) errors.yellow_band = '黄灯区间不能小于 0'
  else if (unit === 'hours' && band > 100) errors.yellow_band = '按目标的百分比填写，不能超过 100'
  else if (unit !== 'hours' && target !== null && target !== undefined && Number.isFinite(target) && target > 0 && band >= target) {
    errors.yellow_band = '黄灯区间应小于目标'
  }
  return errors
}

/** Whether the admin may change the targets of `regionId`: only at their own region (the panel's root). */
export function canEditAt(regionId: number, ownRegionId: number | null | undefined): boolean {
  return ownRegionId !== null && ownRegionId !== undefined && regionId === ownRegionId
}
