import { describe, expect, it } from 'vitest'
import { canDecide, counterpart, receiptHref, transferSource, type TransferLike } from '@/lib/transfers'
import type { ConsoleScope } from '@/api/types'

const row: TransferLike = {
  id: 7, kind: 'organization', status: 'pending',
  from_organization: null, to_organization: { id: 2, name: '渝中区志愿者协会' },
  from_region: { id: 11, name: '解放碑社区' }, to_region: null, receipt_number: null,
}

describe('transfers in the console', () => {
  it('reads the organisation of an organiser and the region of an admin', () => {
    expect(transferSource({ key: 'o', role: 'organizer', organization: { id: 2, name: 'x' } } as unknown as ConsoleScope))
      .toEqual({ kind: 'organization', id: 2 })
    expect(transferSource({ key: 'a', role: 'admin', region: { id: 5, name: 'y' } } as unknown as ConsoleScope))
      .toEqual({ kind: 'region', id: 5 })
    expect(transferSource({ key: 'c', role: 'captain' } as unknown as ConsoleScope)).toBeNull()
    expect(transferSource(null)).toBeNull()
  })

  it('names the other side of the move', () => {
    expect(counterpart(row, 'incoming')).toBe('未加入组织（解放碑社区）')
    expect(counterpart({ ...row, from_organization: { id: 3, name: '磁器口街道志愿服务站' } }, 'incoming')).toBe('磁器口街道志愿服务站')
    expect(counterpart(row, 'outgoing')).toBe('渝中区志愿者协会')
    const community = { ...row, kind: 'community', to_organization: null, to_region: { id: 12, name: '较场口社区' } }
    expect(counterpart(community, 'outgoing')).toBe('较场口社区')
    expect(counterpart(community, 'incoming')).toBe('解放碑社区')
  })

  it('lets only the receiving side decide a pending one', () => {
    expect(canDecide(row, 'incoming')).toBe(true)
    expect(canDecide(row, 'outgoing')).toBe(false)
    expect(canDecide({ status: 'approved' }, 'incoming')).toBe(false)
  })

  it('links the receipt once approved', () => {
    expect(receiptHref(row)).toBeNull()
    expect(receiptHref({ ...row, status: 'approved', receipt_number: 'ZY-1' })).toBe('/api/v1/transfers/7/receipt.html')
  })
})
