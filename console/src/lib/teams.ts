import { ref } from 'vue'
import { api, call } from '@/api/client'
import type { TeamView } from '@/api/types'

/**
 * An organisation's teams for a dropdown or a filter: `loadTeams(id)` reads them into `teams`; a failed
 * read keeps what was there and goes to `onError`.
 */
export function useOrganizationTeams(onError?: (error: unknown) => void) {
  const teams = ref<TeamView[]>([])
  async function loadTeams(organizationId: number) {
    try {
      const answer = await call(api.GET('/api/v1/organizations/{organization_id}/teams', { params: { path: { organization_id: organizationId } } }))
      teams.value = answer.items
    } catch (error) {
      onError?.(error)
    }
  }
  return { teams, loadTeams }
}
