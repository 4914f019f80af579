import { describe, expect, it } from 'vitest'
import {
  anyActive, expiryText, exportKindLabel, exportStatus, fetchWhenReady, filenameOf, isActive, linkUsable, progressPercent,
  type DownloadState,
} from '@/lib/exports'

const NOW = new Date('2026-12-04T08:00:00Z')

describe('export progress', () => {
  it('labels states and knows which are still running', () => {
    expect(exportStatus('queued').text).toBe('排队中')
    expect(exportStatus('running').text).toBe('导出中')
    expect(exportStatus('done')).toEqual({ text: '已完成', type: 'success' })
    expect(exportStatus('failed').type).toBe('danger')
    expect(exportKindLabel('volunteers')).toBe('志愿者名录')
    expect(isActive({ status: 'queued' })).toBe(true)
    expect(isActive({ status: 'done' })).toBe(false)
    expect(anyActive([{ status: 'done' }, { status: 'running' }])).toBe(true)
    expect(anyActive([{ status: 'done' }, { status: 'failed' }])).toBe(false)
    expect(anyActive([])).toBe(false)
  })

  it('reads progress as a share, a percentage or rows, and shows 100 only when done', () => {
    expect(progressPercent({ status: 'queued', progress: 0.5 })).toBe(0)
    expect(progressPercent({ status: 'running', progress: 0.456 })).toBe(45)
    expect(progressPercent({ status: 'running', progress: 45.6 })).toBe(45)
    expect(progressPercent({ status: 'running', rows_done: 250, rows_total: 1000 })).toBe(25)
    expect(progressPercent({ status: 'running', progress: 1 })).toBe(99)
    expect(progressPercent({ status: 'running' })).toBe(0)
    expect(progressPercent({ status: 'done', progress: 0.2 })).toBe(100)
  })

  it('offers the link while it is valid and says when it expires', () => {
    const done = { status: 'done', download_url: '/api/v1/files/abc', expires_at: '2026-12-04T09:05:00Z' }
    expect(linkUsable(done, NOW)).toBe(true)
    expect(linkUsable({ ...done, expires_at: '2026-12-04T07:59:00Z' }, NOW)).toBe(false)
    expect(linkUsable({ ...done, download_url: null }, NOW)).toBe(false)
    expect(linkUsable({ ...done, status: 'running' }, NOW)).toBe(false)
    expect(expiryText('2026-12-04T08:23:00Z', NOW)).toBe('23 分钟后失效')
    expect(expiryText('2026-12-04T09:05:00Z', NOW)).toBe('1 小时 5 分钟后失效')
    expect(expiryText('2026-12-04T10:00:00Z', NOW)).toBe('2 小时后失效')
    expect(expiryText('2026-12-09T08:00:00Z', NOW)).toBe('5 天后失效')
    expect(expiryText('2026-12-04T07:00:00Z', NOW)).toBe('链接已失效')
    expect(expiryText(null, NOW)).toBe('')
  })
})

describe('a download rendered in the background', () => {
  it('says 生成中 while the API answers 409 and delivers the file when ready', async () => {
    const statuses = [409, 409, 200]
    const states: DownloadState[] = []
    const waits: number[] = []
    const file = new Blob(['%PDF-1.7'])
    const result = await fetchWhenReady({
      attempt: async () => {
        const status = statuses.shift()!
        return status === 200 ? { status, file, filename: '通报.pdf' } : { status }
      },
      onState: (s) => states.push(s),
      intervalMs: 1500,
      sleep: async (ms) => { waits.push(ms) },
    })
    expect(result).toEqual({ file, filename: '通报.pdf' })
    expect(states).toEqual(['generating', 'generating', 'done'])
    expect(waits).toEqual([1500, 1500])
  })

  it('stops on another error with the API\'s message, and gives up after the tries', async () => {
    const messages: (string | undefined)[] = []
    expect(await fetchWhenReady({
      attempt: async () => ({ status: 403, message: '无权查看该通报' }),
      onState: (s, m) => messages.push(`${s}:${m}`),
      sleep: async () => {},
    })).toBeNull()
    expect(messages).toEqual(['failed:无权查看该通报'])
    let tries = 0
    const last: string[] = []
    expect(await fetchWhenReady({
      attempt: async () => { tries += 1; return { status: 409 } },
      onState: (s) => last.push(s),
      maxTries: 3,
      sleep: async () => {},
    })).toBeNull()
    expect(tries).toBe(3)
    expect(last.at(-1)).toBe('failed')
  })

  it('reads the file name from Content-Disposition', () => {
    expect(filenameOf(`attachment; filename="bulletin.pdf"; filename*=UTF-8''%E9%80%9A%E6%8A%A5.pdf`)).toBe('通报.pdf')
    expect(filenameOf('attachment; filename=export.xlsx')).toBe('export.xlsx')
    expect(filenameOf(null)).toBeNull()
  })
})
