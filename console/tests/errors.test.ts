import { describe, expect, it, vi } from 'vitest'
import { ApiError, messageOf, toApiError } from '@/api/errors'
import { matchField, setErrorNotifier, showError, useFieldErrors } from '@/api/feedback'

describe('toApiError', () => {
  it('keeps the API code, Chinese message and fields', () => {
    const error = toApiError(422, { error: { code: 'validation_failed', message: '请求内容有误，请检查标出的字段', fields: { credit_code: '统一社会信用代码校验位不正确' } } })
    expect(error).toBeInstanceOf(ApiError)
    expect(error.status).toBe(422)
    expect(error.code).toBe('validation_failed')
    expect(error.message).toBe('请求内容有误，请检查标出的字段')
    expect(error.fields).toEqual({ credit_code: '统一社会信用代码校验位不正确' })
    expect(error.hasFieldErrors).toBe(true)
  })

  it('falls back to a Chinese message by status when the body is not ours', () => {
    expect(toApiError(502, '<html>Bad gateway</html>').message).toBe('服务器出错了，请稍后重试')
    expect(toApiError(502, undefined).code).toBe('server_error')
    expect(toApiError(403, null).message).toBe('没有权限进行此操作')
    expect(toApiError(418, {}).message).toBe('请求失败（418）')
    expect(toApiError(404, { error: 'nope' }).hasFieldErrors).toBe(false)
  })

  it('messageOf never leaks an English bug text', () => {
    expect(messageOf(new TypeError('x is undefined'))).toBe('操作失败，请稍后重试')
    expect(messageOf(new ApiError(409, 'activity_full', '活动名额已满'))).toBe('活动名额已满')
  })
})

describe('field errors', () => {
  it('matches a dotted path to its closest known item', () => {
    expect(matchField('name', ['name'])).toBe('name')
    expect(matchField('gates.min_age', ['gates', 'name'])).toBe('gates')
    expect(matchField('gates.min_age', ['gates.min_age', 'gates'])).toBe('gates.min_age')
    expect(matchField('other', ['name'])).toBeNull()
  })

  it('binds errors to items and returns the rest', () => {
    const form = useFieldErrors(['name', 'credit_code'])
    const rest = form.apply({ credit_code: '校验位不正确', region_id: '地区不存在' })
    expect(form.errors.credit_code).toBe('校验位不正确')
    expect(rest).toEqual({ region_id: '地区不存在' })
    form.apply({ name: '不能为空' })
    expect(form.errors.credit_code).toBeUndefined()
    expect(form.errors.name).toBe('不能为空')
    form.clear()
    expect(Object.keys(form.errors)).toEqual([])
  })

  it('showError puts field errors on the form and the rest in a message', () => {
    const notify = vi.fn()
    setErrorNotifier(notify)
    const form = useFieldErrors(['name'])
    showError(new ApiError(422, 'validation_failed', '请检查标出的字段', { name: '不能为空' }), form)
    expect(form.errors.name).toBe('不能为空')
    expect(notify).not.toHaveBeenCalled()
    showError(new ApiError(422, 'validation_failed', '请检查标出的字段', { mobile: '手机号格式不对' }), form)
    expect(notify).toHaveBeenLastCalledWith('请检查标出的字段：手机号格式不对')
    showError(new ApiError(403, 'forbidden', '只有本组织的组织者可以操作'))
    expect(notify).toHaveBeenLastCalledWith('只有本组织的组织者可以操作')
    notify.mockClear()
    showError(new ApiError(401, 'unauthorized', '请先登录'))
    expect(notify).not.toHaveBeenCalled()
  })
})
