import type { ErrorBodyShape } from './types'

/** An error answer of /api/v1, as one typed value: branch on `code`, show `message` (Chinese). */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly fields: Record<string, string>
  readonly context: Record<string, unknown>

  constructor(status: number, code: string, message: string, fields?: Record<string, string> | null,
    context?: Record<string, unknown> | null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.fields = fields ?? {}
    this.context = context ?? {}
  }

  get hasFieldErrors(): boolean {
    return Object.keys(this.fields).length > 0
  }
}

const FALLBACK_MESSAGES: Record<number, string> = {
  400: '请求有误，请检查后重试',
  401: '登录已失效，请重新登录',
  403: '没有权限进行此操作',
  404: '要找的内容不存在或已被删除',
  409: '内容已被修改，请刷新后重试',
  410: '内容已过期',
  413: '提交的内容太大',
  422: '请求内容有误，请检查标出的字段',
  429: '操作太频繁，请稍后再试',
}

function isErrorBody(body: unknown): body is ErrorBodyShape {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false
  const error = (body as { error: unknown }).error
  return typeof error === 'object' && error !== null
    && typeof (error as { code?: unknown }).code === 'string'
    && typeof (error as { message?: unknown }).message === 'string'
}

/** Turn any failed answer (status, parsed body or text) into an ApiError; never loses the API's own message. */
export function toApiError(status: number, body: unknown): ApiError {
  if (isErrorBody(body)) {
    const { code, message, fields, context } = body.error
    const cleanFields: Record<string, string> = {}
    if (fields && typeof fields === 'object') {
      for (const [key, value] of Object.entries(fields)) cleanFields[key] = String(value)
    }
    return new ApiError(status, code, message, cleanFields, context ?? undefined)
  }
  const message = FALLBACK_MESSAGES[status] ?? (status >= 500 ? '服务器出错了，请稍后重试' : `请求失败（${status}）`)
  return new ApiError(status, status >= 500 ? 'server_error' : `http_${status}`, message)
}

export function networkError(): ApiError {
  return new ApiError(0, 'network_error', '无法连接服务器，请检查网络后重试')
}

/** The message to show for anything thrown by an API call (or a bug), in Chinese. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message
  return '操作失败，请稍后重试'
}
