import { api, call } from '@/api/client'
import { createNonceKeeper, sendOnce, type NonceKeeper } from './nonce'

// Photos and scans go to POST /api/v1/uploads first; the answer's token is what a later write names
// (an activity's photos, a retroactive entry's evidence). The API sniffs the real type and strips EXIF;
// the checks here only spare a slow phone or a long upload a refusal the API would give anyway.

export type UploadPurpose = 'activity_photo' | 'declaration_photo' | 'evidence'

export interface UploadedFile {
  token: string
  purpose: string
  content_type: string
  size_bytes: number
  width: number | null
  height: number | null
  url: string
  thumbnail_url: string | null
  created_at: string
}

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp']

/** What the file picker offers for each purpose (evidence may be a scanned sign-in sheet as PDF). */
export function acceptedTypes(purpose: UploadPurpose): string[] {
  return purpose === 'evidence' ? [...IMAGE_TYPES, 'application/pdf'] : [...IMAGE_TYPES]
}

/** The API's default limit (`[files] upload_max_bytes`); the API has the last word. */
export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

/** Why a picked file cannot be sent, in the words the user sees, or null when it may go. */
export function precheck(file: Pick<File, 'name' | 'size' | 'type'>, purpose: UploadPurpose, maxBytes = DEFAULT_MAX_BYTES): string | null {
  if (file.size === 0) return `「${file.name}」是空文件`
  if (file.size > maxBytes) return `「${file.name}」有 ${formatBytes(file.size)}，超过了 ${formatBytes(maxBytes)} 的上限`
  // Browsers leave `type` empty for unknown extensions: let the API sniff those.
  if (file.type && !acceptedTypes(purpose).includes(file.type)) {
    return purpose === 'evidence'
      ? `「${file.name}」不是 JPEG、PNG、WebP 图片或 PDF`
      : `「${file.name}」不是 JPEG、PNG 或 WebP 图片`
  }
  return null
}

/** How many of `picked` still fit beside `held` files under `max`; the rest are left out with a note. */
export function roomFor(held: number, picked: number, max: number): { take: number; note: string | null } {
  const take = Math.max(0, Math.min(picked, max - held))
  return { take, note: take < picked ? `最多 ${max} 个文件，已略去 ${picked - take} 个` : null }
}

const keeper: NonceKeeper = createNonceKeeper()

/** The same file picked again (or retried after a lost answer) reuses its nonce, so it is kept once. */
function fileKey(file: File, purpose: UploadPurpose): string {
  return `upload:${purpose}:${file.name}:${file.size}:${file.lastModified}`
}

export function uploadFile(file: File, purpose: UploadPurpose): Promise<UploadedFile> {
  const key = fileKey(file, purpose)
  return sendOnce(keeper, key, { key }, (nonce) => {
    const form = new FormData()
    form.append('file', file)
    form.append('purpose', purpose)
    form.append('nonce', nonce)
    return call(api.POST('/api/v1/uploads', {
      // multipart: the browser sets the boundary; openapi-fetch must not JSON-encode it
      body: form as never,
      bodySerializer: (body: unknown) => body as FormData,
    })) as Promise<UploadedFile>
  })
}
