import { describe, expect, it } from 'vitest'
import { actionLabel, actionOptions, detailText } from '@/lib/audit'

describe('audit labels', () => {
  it('names actions in Chinese and keeps unknown codes', () => {
    expect(actionLabel('volunteer.mobile_revealed')).toBe('查看完整手机号')
    expect(actionLabel('x.y')).toBe('x.y')
  })

  it('groups filter options by object type with an "all of it" prefix first', () => {
    const groups = actionOptions()
    const org = groups.find((g) => g.label === '组织')!
    expect(org.options[0]).toEqual({ value: 'organization.', label: '组织：全部' })
    expect(org.options.map((o) => o.value)).toContain('organization.approved')
  })

  it('renders details', () => {
    expect(detailText({ reason: '联系确认集合地点', year: 2026, empty: null })).toBe('原因：联系确认集合地点；年份：2026')
    expect(detailText(undefined)).toBe('')
  })
})
