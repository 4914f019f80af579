import { describe, expect, it } from 'vitest'
import { changeText, correctionLine, missingMonths, readContent, scoreChangeText } from '@/lib/bulletins'

const CONTENT = {
  version: 1,
  region: { id: 2, name: '渝中区', level: 'district' },
  month: '2026-11', label: '2026年11月', title: '渝中区志愿服务工作月月通报（2026年11月）', generated_on: '2026-12-01 06:00',
  indicators: [{ key: 'registration_rate', label: '注册率', unit: 'percent', definition: '…' }],
  total: { figures: [{ key: 'registration_rate', label: '注册率', unit: 'percent', value: 12.5, numerator: 125, denominator: 1000, target: 13, yellow_band: 3, status: 'yellow', previous: 12, last_year: null, mom: 0.5, yoy: null }], score: 0.81 },
  children: [
    { region_id: 8, name: '较场口街道', score: 0.5, score_change: -0.1, rank: 2, flag: 'yellow', figures: [], red: ['注册率'], training: null, campaigns: null, late_records: null },
    { region_id: 7, name: '解放碑街道', score: 0.9, score_change: 0.2, rank: 1, flag: 'red', figures: [{ key: 'registration_rate', value: 14, status: 'green' }],
      red: [], training: { trained: 3, units: 4, status: 'red', untrained: ['应急队'], untrained_count: 1 }, campaigns: { held: 2, target: 10, status: 'red' }, late_records: { records: 2, minutes: 90 } },
  ],
  flags: { red: [{ region_id: 7, name: '解放碑街道', rank: 1 }], yellow: [{ region_id: 8, name: '较场口街道', rank: 2 }] },
  improvers: [{ region_id: 7, name: '解放碑街道', score: 0.9, previous_score: 0.7, score_change: 0.2 }],
  notes: ['2 条服务记录在月底后补录'],
  corrections: { bulletin_id: 3, month: '2026-10', label: '2026年10月', items: [
    { region_id: 7, name: '解放碑街道', key: 'registration_rate', label: '注册率', unit: 'percent', was: 12.1, was_numerator: 121, was_denominator: 1000, now: 12.4, now_numerator: 124, now_denominator: 1000 },
  ] },
  summary: '本月……',
}

describe('a bulletin\'s content', () => {
  it('reads the frozen document, children in rank order', () => {
    const c = readContent(CONTENT)
    expect(c.title).toBe('渝中区志愿服务工作月月通报（2026年11月）')
    expect(c.total[0]).toMatchObject({ key: 'registration_rate', value: 12.5, status: 'yellow', mom: 0.5, yoy: null })
    expect(c.totalScore).toBe(0.81)
    expect(c.children.map((t) => t.name)).toEqual(['解放碑街道', '较场口街道'])
    expect(c.children[0]).toMatchObject({ flag: 'red', training: { trained: 3, untrained: ['应急队'] }, late_records: { minutes: 90 } })
    expect(c.children[0].figures[0]).toMatchObject({ value: 14, status: 'green', numerator: null })
    expect(c.flags.yellow).toEqual([{ name: '较场口街道', rank: 2 }])
    expect(c.corrections?.items).toHaveLength(1)
    expect(c.notes).toEqual(['2 条服务记录在月底后补录'])
  })

  it('survives an empty or partial document', () => {
    const c = readContent(null)
    expect(c.children).toEqual([])
    expect(c.corrections).toBeNull()
    expect(readContent({ month: '2026-11' }).label).toBe('2026年11月')
  })

  it('writes corrections and changes as a report does', () => {
    expect(correctionLine(readContent(CONTENT).corrections!.items[0])).toBe('解放碑街道 注册率 由 12.1% 更正为 12.4%')
    expect(changeText(0.5, 'percent')).toEqual({ text: '+0.5 个百分点', trend: 'up' })
    expect(changeText(-2, 'count')).toEqual({ text: '−2', trend: 'down' })
    expect(changeText(null, 'count').trend).toBe('flat')
    expect(scoreChangeText(0.2)).toBe('+20 分')
    expect(scoreChangeText(-0.035)).toBe('−3.5 分')
    expect(scoreChangeText(null)).toBe('—')
  })
})

describe('months without a bulletin', () => {
  it('lists the past months missing, newest first, never the current one', () => {
    const now = new Date('2026-12-04T08:00:00Z')
    expect(missingMonths(['2026-11', '2026-09'], now, 4)).toEqual(['2026-10', '2026-08'])
    expect(missingMonths([], now, 2)).toEqual(['2026-11', '2026-10'])
  })
})
