// 统一社会信用代码 (GB 32100-2015): 18 characters from 31 symbols (no I, O, Z, S, V); the last is a
// check character over the first 17. The API checks it too; the console checks first to answer at once.
const CHARSET = '0123456789ABCDEFGHJKLMNPQRTUWXY'
const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

export function creditCodeCheckChar(first17: string): string | null {
  if (first17.length !== 17) return null
  let sum = 0
  for (let i = 0; i < 17; i++) {
    const value = CHARSET.indexOf(first17[i])
    if (value < 0) return null
    sum += value * WEIGHTS[i]
  }
  const check = (31 - (sum % 31)) % 31
  return CHARSET[check]
}

/** A Chinese message saying what is wrong with the code, or null when it is well formed. */
export function creditCodeProblem(raw: string): string | null {
  const code = raw.trim().toUpperCase()
  if (!code) return '请填写统一社会信用代码'
  if (code.length !== 18) return '统一社会信用代码应为18位'
  for (const ch of code) {
    if (!CHARSET.includes(ch)) return `统一社会信用代码不能包含“${ch}”`
  }
  if (creditCodeCheckChar(code.slice(0, 17)) !== code[17]) return '统一社会信用代码校验位不正确，请核对'
  return null
}
