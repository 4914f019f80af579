import { describe, expect, it } from 'vitest'
import { creditCodeCheckChar, creditCodeProblem } from '@/lib/creditCode'

describe('统一社会信用代码', () => {
  it('accepts codes with the right check character', () => {
    expect(creditCodeProblem('91350100M000100Y43')).toBeNull()
    expect(creditCodeProblem(' 91350100m000100y43 ')).toBeNull()
    expect(creditCodeCheckChar('91350100M000100Y4')).toBe('3')
  })

  it('says what is wrong, in Chinese', () => {
    expect(creditCodeProblem('')).toBe('请填写统一社会信用代码')
    expect(creditCodeProblem('9135010')).toBe('统一社会信用代码应为18位')
    expect(creditCodeProblem('91350100M000100Y4I')).toBe('统一社会信用代码不能包含“I”')
    expect(creditCodeProblem('91350100M000100Y44')).toBe('统一社会信用代码校验位不正确，请核对')
  })
})
