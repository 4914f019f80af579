import type { ConsoleScope } from '@/api/types'

// 转移: the applications to move into or out of an organisation (organisers) or a region's communities
// (admins). The receiving side decides; an approved one has a receipt the API renders as a page.

export type Direction = 'incoming' | 'outgoing'

export interface TransferRef { id: number | null; name: string }
export interface TransferLike {
  id: number
  kind: string
  status: string
  from_organization: TransferRef | null
  to_organization: TransferRef | null
  from_region: TransferRef
  to_region: TransferRef | null
  receipt_number: string | null
}

export const TRANSFER_STATUS: Record<string, [string, 'warning' | 'success' | 'danger' | 'info']> = {
  pending: ['待审核', 'warning'],
  approved: ['已通过', 'success'],
  refused: ['未通过', 'danger'],
  withdrawn: ['已撤回', 'info'],
}

export const KIND_LABELS: Record<string, string> = { organization: '转组织', community: '转社区' }

/** Which list the scope reads: an organiser its organisation's, an admin its region's community transfers. */
export function transferSource(scope: ConsoleScope | null): { kind: 'organization' | 'region'; id: number } | null {
  if (!scope) return null
  if (scope.role === 'admin' && scope.region) return { kind: 'region', id: scope.region.id }
  if (scope.role === 'organizer' && scope.organization) return { kind: 'organization', id: scope.organization.id }
  return null
}

/** The other side of the move, as the list shows it: where they come from, or where they go. */
export function counterpart(row: TransferLike, direction: Direction): string {
  if (direction === 'incoming') {
    if (row.kind === 'community') return row.from_region.name
    return row.from_organization?.name || `未加入组织（${row.from_region.name}）`
  }
  return (row.kind === 'community' ? row.to_region?.name : row.to_organization?.name) || '—'
}

/** Only the receiving side decides, and only once. */
export function canDecide(row: Pick<TransferLike, 'status'>, direction: Direction): boolean {
  return direction === 'incoming' && row.status === 'pending'
}

/** The printable receipt (needs the console's session; the API answers 409 before approval). */
export function receiptHref(row: Pick<TransferLike, 'id' | 'status' | 'receipt_number'>): string | null {
  return row.status === 'approved' && row.receipt_number ? `/api/v1/transfers/${row.id}/receipt.html` : null
}
