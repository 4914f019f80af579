import { describe, expect, it } from 'vitest'
import { commitPlan, kindLabel, outcomeText, rowLines, summaryText, templateHref, xlsxPrecheck } from '@/lib/imports'

describe('imports: the preview as the page shows it', () => {
  it('links the template of each kind', () => {
    expect(templateHref('volunteers')).toBe('/api/v1/imports/template?kind=volunteers')
    expect(templateHref('records')).toBe('/api/v1/imports/template?kind=records')
    expect(kindLabel('records')).toBe('历史服务记录')
  })

  it('lists every listed row by its row number with its problems or why it is skipped', () => {
    const lines = rowLines({
      listed: [
        { row: 5, result: 'existing', problems: [], volunteer_id: 9, matched_by: 'mobile' },
        { row: 3, result: 'problem', problems: [{ column: '手机号', message: '格式不对' }, { column: '所在社区', message: '不能为空' }] },
      ],
    })
    expect(lines.map((l) => l.row)).toEqual([3, 5])
    expect(lines[0].text).toBe('手机号：格式不对；所在社区：不能为空')
    expect(lines[1].text).toBe('已存在，将跳过（按手机号找到已有的志愿者）')
  })

  it('commits by skipping problems only when there are some', () => {
    expect(commitPlan({ new: 4, problems: 1 })).toEqual({ skipProblems: true, label: '跳过有问题的 1 行，导入其余 4 行' })
    expect(commitPlan({ new: 4, problems: 0 })).toEqual({ skipProblems: false, label: '确认导入 4 行' })
    expect(commitPlan({ new: 0, problems: 0 }).label).toContain('不会写入')
  })

  it('sums up counts and outcomes', () => {
    expect(summaryText({ rows: 6, new: 4, existing: 1, problems: 1 })).toBe('共 6 行：新增 4 行，已存在 1 行，有问题 1 行')
    expect(outcomeText({ written: 4, existing: 1, skipped: 1 })).toBe('写入 4，已存在 1，跳过 1')
    expect(outcomeText(null)).toBe('—')
  })

  it('refuses files that are not .xlsx before uploading them', () => {
    expect(xlsxPrecheck({ name: '名册.xls', size: 10 })).toContain('不是 .xlsx 文件')
    expect(xlsxPrecheck({ name: '名册.XLSX', size: 10 })).toBeNull()
    expect(xlsxPrecheck({ name: 'a.xlsx', size: 0 })).toContain('空文件')
    expect(xlsxPrecheck({ name: 'a.xlsx', size: 11 * 1024 * 1024 })).toContain('太大')
  })
})
