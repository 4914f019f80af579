import { reactive } from 'vue'
import { ApiError, messageOf } from './errors'

/**
 * Field errors of one form, bound to its el-form-items: `<el-form-item prop="name" :error="fe.errors.name">`.
 * The API names a field by its dotted path (`name`, `gates.min_age`); a nested error is shown on the item
 * of its closest known ancestor.
 */
export function useFieldErrors(known: readonly string[]) {
  const errors = reactive<Record<string, string>>({})

  function clear(): void {
    for (const key of Object.keys(errors)) delete errors[key]
  }

  /** Put each field error on its item; return the ones no item shows (the caller shows them otherwise). */
  function apply(fields: Record<string, string>): Record<string, string> {
    clear()
    const unmatched: Record<string, string> = {}
    for (const [path, message] of Object.entries(fields)) {
      const target = matchField(path, known)
      if (target === null) unmatched[path] = message
      else errors[target] = errors[target] ? `${errors[target]}；${message}` : message
    }
    return unmatched
  }

  return { errors, clear, apply }
}

export function matchField(path: string, known: readonly string[]): string | null {
  if (known.includes(path)) return path
  const parts = path.split('.')
  for (let n = parts.length - 1; n > 0; n--) {
    const prefix = parts.slice(0, n).join('.')
    if (known.includes(prefix)) return prefix
  }
  return null
}

type FieldBinder = ReturnType<typeof useFieldErrors>
type Notify = (message: string) => void

let notifyError: Notify = (message) => {
  ElMessage({ type: 'error', message, grouping: true, showClose: true })
}

/** Tests replace the toast. */
export function setErrorNotifier(next: Notify): void {
  notifyError = next
}

/**
 * Show an API error where it belongs: field errors next to their form items (when a binder is given),
 * anything else as a message with the API's Chinese text. A 401 is left to the login redirect.
 */
export function showError(error: unknown, form?: FieldBinder): void {
  if (error instanceof ApiError) {
    if (error.status === 401) return
    if (form && error.hasFieldErrors) {
      const unmatched = form.apply(error.fields)
      const rest = Object.values(unmatched)
      if (rest.length) notifyError(`${error.message}：${rest.join('；')}`)
      return
    }
    if (error.hasFieldErrors) {
      notifyError(`${error.message}：${Object.values(error.fields).join('；')}`)
      return
    }
  }
  notifyError(messageOf(error))
  if (!(error instanceof ApiError)) console.error(error)
}

/** A plain error text (e.g. the summary of a batch action). */
export function showErrorText(message: string): void {
  notifyError(message)
}

export function showSuccess(message: string): void {
  ElMessage({ type: 'success', message, grouping: true })
}
