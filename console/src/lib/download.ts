// Downloads the browser fetches itself (files the API renders, answered as attachments or by a redirect
// to a signed link): fetch with the session cookie, keep polling on 409 (生成中), then save the file.
import { fetchWhenReady, filenameOf, type DownloadState } from '@/lib/exports'

/** Save a fetched file under its name (an object URL on a temporary link). */
export function saveFile(file: Blob, filename: string): void {
  const url = URL.createObjectURL(file)
  const link = document.createElement('a')
  link.href = url
  link.download = filename
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

async function errorMessage(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { error?: { message?: string } }
    return body.error?.message
  } catch {
    return undefined
  }
}

/** Download `href`, polling while the API answers 409; `onState` drives the button's label. */
export async function download(href: string, fallbackName: string, onState: (state: DownloadState, message?: string) => void): Promise<boolean> {
  const result = await fetchWhenReady({
    attempt: async () => {
      const response = await fetch(href, { credentials: 'same-origin' })
      if (response.ok) return { status: 200, file: await response.blob(), filename: filenameOf(response.headers.get('Content-Disposition')) }
      return { status: response.status, message: response.status === 409 ? undefined : await errorMessage(response) }
    },
    onState,
  })
  if (!result) return false
  saveFile(result.file, result.filename ?? fallbackName)
  return true
}
