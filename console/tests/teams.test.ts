import { describe, expect, it, vi } from 'vitest'

// An organisation's teams for the dropdowns: one GET, the items kept; a failure keeps the old list.
let answer: (request: Request) => Promise<Response>
const paths: string[] = []
vi.stubGlobal('fetch', vi.fn((request: Request) => {
  paths.push(`${request.method} ${new URL(request.url).pathname}`)
  return answer(request)
}))

describe('useOrganizationTeams', () => {
  it('reads the organisation\'s teams, and keeps them when a later read fails', async () => {
    const { useOrganizationTeams } = await import('@/lib/teams')
    const errors: unknown[] = []
    const { teams, loadTeams } = useOrganizationTeams((e) => errors.push(e))
    const team = { id: 3, name: '应急队', kind: 'emergency', member_count: 2 }
    answer = async () => new Response(JSON.stringify({ items: [team] }), { status: 200, headers: { 'Content-Type': 'application/json' } })
    await loadTeams(7)
    expect(paths).toEqual(['GET /api/v1/organizations/7/teams'])
    expect(teams.value.map((t) => t.id)).toEqual([3])
    answer = async () => { throw new TypeError('offline') }
    await loadTeams(7)
    expect(teams.value.map((t) => t.id)).toEqual([3])
    expect(errors).toHaveLength(1)
  })
})
