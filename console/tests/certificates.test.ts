import { describe, expect, it } from 'vitest'
import { actionsFor, certificateStatus, hoursText, organizationChoices, publicityOver, publicityText, readContent } from '@/lib/certificates'

const NOW = new Date('2026-12-05T04:00:00Z') // 12:00 in Beijing

describe('what the handler may do', () => {
  it('reviews a request, nothing else', () => {
    expect(actionsFor({ status: 'requested' }, NOW)).toMatchObject({ review: true, issue: false, revoke: false, pdf: false, decideObjections: false })
  })

  it('issues only once publicity is over and no objection is open', () => {
    const running = { status: 'publicity', publicity_ends_at: '2026-12-07T16:00:00Z', open_objections: 0 }
    expect(actionsFor(running, NOW)).toMatchObject({ issue: false, issueBlocked: '公示期尚未结束', decideObjections: true })
    const over = { ...running, publicity_ends_at: '2026-12-04T16:00:00Z' }
    expect(actionsFor(over, NOW)).toMatchObject({ issue: true, issueBlocked: null })
    expect(actionsFor({ ...over, open_objections: 2 }, NOW)).toMatchObject({ issue: false, issueBlocked: '还有 2 条异议未处理' })
    expect(publicityOver({ status: 'issued', publicity_ends_at: '2026-12-04T16:00:00Z' }, NOW)).toBe(false)
  })

  it('revokes an issued certificate; the PDF stays downloadable after revocation', () => {
    expect(actionsFor({ status: 'issued' }, NOW)).toMatchObject({ revoke: true, pdf: true, review: false })
    expect(actionsFor({ status: 'revoked' }, NOW)).toMatchObject({ revoke: false, pdf: true })
    expect(actionsFor({ status: 'rejected' }, NOW)).toMatchObject({ revoke: false, pdf: false, issue: false })
  })
})

describe('labels', () => {
  it('names each state', () => {
    expect(certificateStatus('publicity')).toEqual({ text: '公示中', type: 'primary' })
    expect(certificateStatus('odd').text).toBe('odd')
    expect(certificateStatus(null).text).toBe('—')
  })

  it('tells the last day of publicity (the midnight after it, Beijing) and what is left', () => {
    // ends 2026-12-08 00:00 Beijing = 2026-12-07T16:00Z: the last day is 12月7日
    expect(publicityText('2026-12-07T16:00:00Z', NOW)).toBe('公示至 12月7日（还有 3 天）')
    expect(publicityText('2026-12-05T16:00:00Z', NOW)).toBe('公示至 12月5日（不足 1 天）')
    expect(publicityText('2026-12-04T16:00:00Z', NOW)).toBe('公示期已结束')
    expect(publicityText(null, NOW)).toBe('')
  })

  it('prints hours with at most two decimals', () => {
    expect(hoursText(2.5)).toBe('2.5 小时')
    expect(hoursText(1 / 3)).toBe('0.33 小时')
    expect(hoursText(null)).toBe('—')
  })
})

describe('the frozen content', () => {
  it('reads the four parts and tolerates missing pieces', () => {
    const content = readContent({
      identity: { name: '张三丰', masked_name: '张*丰', id_type: '居民身份证', id_number_masked: '5001**********1234', volunteer_number: '50010300000012' },
      service: { period_start: '2026-01-01', period_end: '2026-11-30', hours: 2.5, scanned_hours: 2, entered_hours: 0.5, activity_count: 1,
        activities: [{ activity_id: 3, date: '2026-11-02', title: '社区义诊', place: '解放碑', content: '量血压', hours: 2.5 }],
        trainings: [], awards: [{ date: '2026-11-03', title: '优秀志愿者', granted_by: '渝中区志愿者协会' }] },
      issuer: { name: '渝中区志愿者协会', person_in_charge: '王五', handler: null, contact: '13800000000', issued_for_dissolved: false },
      other: { serial: 'ZM000001-2026-00001', issue_date: null, notes: ['本证明…'] },
    })!
    expect(content.identity.maskedName).toBe('张*丰')
    expect(content.service.activities[0]).toEqual({ date: '2026-11-02', title: '社区义诊', place: '解放碑', content: '量血压', hours: 2.5 })
    expect(content.service.awards[0].grantedBy).toBe('渝中区志愿者协会')
    expect(content.issuer.handler).toBe('')
    expect(content.other).toEqual({ serial: 'ZM000001-2026-00001', issueDate: '', notes: ['本证明…'] })
    expect(readContent(null)).toBeNull()
    expect(readContent({})!.service.activities).toEqual([])
  })
})

describe('organisations an admin handles', () => {
  it('puts those no longer approved first and leaves pending applications out', () => {
    const choices = organizationChoices([
      { id: 1, name: '乙协会', status: 'approved' }, { id: 2, name: '甲站', status: 'rejected' }, { id: 3, name: '丙队', status: 'pending' },
    ])
    expect(choices.map((o) => [o.id, o.dissolved])).toEqual([[2, true], [1, false]])
  })
})
