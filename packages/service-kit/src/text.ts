import { ProblemError, type FieldError } from './problem.ts'

/**
 * What Postgres text and jsonb can hold: no NUL character, and (being UTF-8) no lone UTF-16
 * surrogate. Input that breaks this is refused naming the field; model output is made storable.
 */
const NUL = '\u0000'

function problemOf(s: string): string | undefined {
  if (s.includes(NUL)) return 'contains a NUL character (U+0000), which cannot be stored'
  if (!s.isWellFormed()) return 'contains a lone UTF-16 surrogate (not valid Unicode text)'
  return undefined
}

const pointer = (base: string, key: string | number) => `${base}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`

/** Whether any string (or object key) under `value` is one Postgres could not store: the fast check. */
function hasUnstorable(value: unknown): boolean {
  if (typeof value === 'string') return problemOf(value) !== undefined
  if (Array.isArray(value)) return value.some(hasUnstorable)
  if (value && typeof value === 'object') return Object.entries(value).some(([k, v]) => hasUnstorable(k) || hasUnstorable(v))
  return false
}

/** Every string (and object key) under `value` that Postgres could not store, as JSON-pointer field errors. */
export function unstorableFields(value: unknown, base = '', limit = 20): FieldError[] {
  // one fast pass over the whole value; paths are built only when something is wrong
  return hasUnstorable(value) ? collect(value, base, [], limit) : []
}

function collect(value: unknown, base: string, out: FieldError[], limit: number): FieldError[] {
  if (out.length >= limit) return out
  if (typeof value === 'string') {
    const message = problemOf(value)
    if (message) out.push({ path: base || '/', message })
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collect(v, pointer(base, i), out, limit))
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const keyProblem = problemOf(k)
      if (keyProblem) out.push({ path: pointer(base, k.replaceAll(NUL, '\\u0000')), message: `has a field name that ${keyProblem}` })
      collect(v, pointer(base, k), out, limit)
    }
  }
  return out
}

/** Model output made storable: NUL characters dropped, lone surrogates replaced by U+FFFD. */
export function storable<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll(NUL, '').toWellFormed() as T
  if (Array.isArray(value)) return value.map(storable) as T
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)])) as T
  return value
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** A request body as text, refused (400 invalid_utf8) where its bytes are not UTF-8 rather than stored with U+FFFD. */
export function decodeUtf8Strict(body: Buffer): string {
  try {
    return utf8.decode(body)
  } catch {
    const at = firstInvalidUtf8(body)
    throw new ProblemError(400, 'invalid_utf8', `the body is not valid UTF-8 (first bad byte at offset ${at})`, [{ path: '/', message: `is not valid UTF-8 at byte ${at}` }])
  }
}

function firstInvalidUtf8(b: Buffer): number {
  // The longest prefix that decodes as a stream (where an unfinished last character is no error) ends at the bad byte.
  let lo = 0
  let hi = b.length
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(0, mid), { stream: true })
      lo = mid
    } catch {
      hi = mid - 1
    }
  }
  // Back up to the start of the character the bad byte broke (an unfinished lead byte is not valid on its own).
  for (let back = 0; back < 3 && lo > 0 && !decodes(b.subarray(0, lo)); back++) lo -= 1
  return lo
}

function decodes(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b)
    return true
  } catch {
    return false
  }
}
