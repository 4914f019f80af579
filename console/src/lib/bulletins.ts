// The monthly bulletin (月月通报) as the console shows it: the frozen content's shape (the API keeps it
// as one JSON document, so it is read here once, tolerantly), the list's month labels, what is missing.
import { currentPeriod, formatChange, formatValue, periodLabel, shiftPeriod, type KpiFigureLike } from '@/lib/kpi'
import { list, num, obj, text, type Json } from './json'

export interface BulletinFigure extends KpiFigureLike {
  previous?: number | null
  last_year?: number | null
  mom?: number | null
  yoy?: number | null
}

export interface BulletinTable {
  region_id: number
  name: string
  score: number | null
  score_change: number | null
  rank: number | null
  flag: 'red' | 'yellow' | null
  figures: BulletinFigure[]
  red: string[]
  training: { trained: number | null; units: number | null; status: string; untrained: string[]; untrained_count: number } | null
  campaigns: { held: number | null; target: number | null; status: string } | null
  late_records: { records: number; minutes: number } | null
}

export interface BulletinCorrection {
  region_id: number; name: string; key: string; label: string; unit: string
  was: number | null; was_numerator: number | null; was_denominator: number | null
  now: number | null; now_numerator: number | null; now_denominator: number | null
}

export interface BulletinContent {
  title: string
  label: string
  month: string
  generatedOn: string
  summary: string
  indicators: { key: string; label: string; unit: string; definition: string }[]
  total: BulletinFigure[]
  totalScore: number | null
  children: BulletinTable[]
  flags: { red: { name: string; rank: number | null }[]; yellow: { name: string; rank: number | null }[] }
  improvers: { name: string; score: number | null; previous_score: number | null; score_change: number | null }[]
  notes: string[]
  corrections: { label: string; items: BulletinCorrection[] } | null
}


function figure(row: Json): BulletinFigure {
  return {
    key: text(row.key), label: text(row.label), unit: text(row.unit), value: num(row.value),
    numerator: num(row.numerator), denominator: num(row.denominator), target: num(row.target),
    yellow_band: num(row.yellow_band), status: text(row.status) || 'none',
    previous: num(row.previous), last_year: num(row.last_year), mom: num(row.mom), yoy: num(row.yoy),
  }
}

function flagOf(value: unknown): 'red' | 'yellow' | null {
  return value === 'red' || value === 'yellow' ? value : null
}

/** The frozen content of a bulletin, read into the shape the detail page draws. */
export function readContent(raw: unknown): BulletinContent {
  const c = obj(raw)
  const total = obj(c.total)
  const flags = obj(c.flags)
  const corrections = c.corrections ? obj(c.corrections) : null
  const named = (rows: unknown) => list(rows).map((r) => ({ name: text(r.name), rank: num(r.rank) }))
  return {
    title: text(c.title),
    label: text(c.label) || periodLabel(text(c.month)),
    month: text(c.month),
    generatedOn: text(c.generated_on),
    summary: text(c.summary),
    indicators: list(c.indicators).map((i) => ({ key: text(i.key), label: text(i.label), unit: text(i.unit), definition: text(i.definition) })),
    total: list(total.figures).map(figure),
    totalScore: num(total.score),
    children: list(c.children).map((t) => {
      const training = t.training ? obj(t.training) : null
      const campaigns = t.campaigns ? obj(t.campaigns) : null
      const late = t.late_records ? obj(t.late_records) : null
      return {
        region_id: num(t.region_id) ?? 0, name: text(t.name), score: num(t.score), score_change: num(t.score_change),
        rank: num(t.rank), flag: flagOf(t.flag), figures: list(t.figures).map(figure),
        red: Array.isArray(t.red) ? t.red.map(String) : [],
        training: training && {
          trained: num(training.trained), units: num(training.units), status: text(training.status) || 'none',
          untrained: Array.isArray(training.untrained) ? training.untrained.map(String) : [], untrained_count: num(training.untrained_count) ?? 0,
        },
        campaigns: campaigns && { held: num(campaigns.held), target: num(campaigns.target), status: text(campaigns.status) || 'none' },
        late_records: late && { records: num(late.records) ?? 0, minutes: num(late.minutes) ?? 0 },
      }
    }).sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity)),
    flags: { red: named(flags.red), yellow: named(flags.yellow) },
    improvers: list(c.improvers).map((i) => ({
      name: text(i.name), score: num(i.score), previous_score: num(i.previous_score), score_change: num(i.score_change),
    })),
    notes: Array.isArray(c.notes) ? c.notes.map(String) : [],
    corrections: corrections && {
      label: text(corrections.label),
      items: list(corrections.items).map((i) => ({
        region_id: num(i.region_id) ?? 0, name: text(i.name), key: text(i.key), label: text(i.label), unit: text(i.unit),
        was: num(i.was), was_numerator: num(i.was_numerator), was_denominator: num(i.was_denominator),
        now: num(i.now), now_numerator: num(i.now_numerator), now_denominator: num(i.now_denominator),
      })),
    },
  }
}

/** One line of 「上期数据更正」: 解放碑街道 注册率 由 12.1% 更正为 12.4%. */
export function correctionLine(item: BulletinCorrection): string {
  return `${item.name} ${item.label} 由 ${formatValue(item.was, item.unit)} 更正为 ${formatValue(item.now, item.unit)}`
}

/** A change with its arrow's colour class: up is good for every indicator. */
export function changeText(delta: number | null | undefined, unit: string): { text: string; trend: 'up' | 'down' | 'flat' } {
  const trend = delta === null || delta === undefined || delta === 0 ? 'flat' : delta > 0 ? 'up' : 'down'
  return { text: formatChange(delta, unit), trend }
}

/** A score change (0–1 shares) as points of the 100-point score: +3.5 分. */
export function scoreChangeText(delta: number | null | undefined): string {
  if (delta === null || delta === undefined || !Number.isFinite(delta)) return '—'
  const points = Math.round(delta * 1000) / 10
  return `${points > 0 ? '+' : points < 0 ? '−' : '±'}${Math.abs(points)} 分`
}

/**
 * The past months an admin may freeze by hand: from `since` (the first month with data, or a year back)
 * up to last month, those without a bulletin, newest first.
 */
export function missingMonths(existing: readonly string[], now: Date = new Date(), back = 12): string[] {
  const have = new Set(existing)
  const last = shiftPeriod(currentPeriod('month', now), -1)
  return Array.from({ length: back }, (_, i) => shiftPeriod(last, -i)).filter((m) => !have.has(m))
}
