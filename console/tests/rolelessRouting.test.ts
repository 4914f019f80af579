import { afterEach, describe, expect, it } from 'vitest'
import type { ConsoleMe } from '@/api/types'
import { router } from '@/router'
import { clearSession, setMe } from '@/stores/session'

// The router keeps an account without a role on 申请成立组织, whatever address it opens.
const roleless: ConsoleMe = { account_id: 7, display_name: '新志愿者', csrf_token: 't', session_expires_at: '2026-12-04T12:00:00Z', scopes: [] }

describe('routing without a role', () => {
  afterEach(() => clearSession())

  it('sends every page with roles, and the home page, to /apply', async () => {
    setMe(roleless)
    for (const path of ['/', '/workbench', '/volunteers', '/activities', '/regions']) {
      await router.push(path)
      expect(router.currentRoute.value.path).toBe('/apply')
    }
  })

  it('lets an organiser past /apply to its pages', async () => {
    setMe({ ...roleless, scopes: [{ key: 'organizer:org:3', role: 'organizer', label: '甲 · 组织者', organization: { id: 3, name: '甲' }, team: null, region: null }] })
    await router.push('/activities')
    expect(router.currentRoute.value.path).toBe('/activities')
  })
})
