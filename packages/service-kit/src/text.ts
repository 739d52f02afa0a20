import { ProblemError, type FieldError } from './problem.ts'
import { TimeSlicer } from './slices.ts'

/**
 * What Postgres text and jsonb can hold: no NUL character, and (being UTF-8) no lone UTF-16
 * surrogate. Input that breaks this is refused naming the field; model output is made storable.
 */
const NUL = '\u0000'

const NUL_PROBLEM = 'contains a NUL character (U+0000), which cannot be stored'
const SURROGATE_PROBLEM = 'contains a lone UTF-16 surrogate (not valid Unicode text)'

function problemOf(s: string): string | undefined {
  if (s.includes(NUL)) return NUL_PROBLEM
  if (!s.isWellFormed()) return SURROGATE_PROBLEM
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

/** Strings longer than this (a JSONL upload: up to 64 MB) are checked a slice at a time. */
const SLICE_CHARS = 1 << 20

/**
 * unstorableFields, with a long string (a JSONL body) checked a slice at a time and the event loop let
 * through between slices; the same answer for every value. `pieces`, where given, are the string's
 * consecutive parts (as decodeUtf8StrictSliced made them): checked instead of slices of the whole,
 * which would first have to be flattened into one 64 MB copy.
 */
export async function unstorableFieldsSliced(value: unknown, base = '', limit = 20, pieces?: readonly string[]): Promise<FieldError[]> {
  if (typeof value !== 'string' || (value.length <= SLICE_CHARS && !pieces) || limit <= 0) return unstorableFields(value, base, limit)
  const slicer = new TimeSlicer()
  let nul = false
  let lone = false
  for (const part of pieces ?? slices(value)) {
    if (part.includes(NUL)) nul = true
    else if (!lone && !part.isWellFormed()) lone = true
    if (nul) break
    await slicer.tick()
  }
  // as problemOf: a NUL anywhere is named before a lone surrogate
  const message = nul ? NUL_PROBLEM : lone ? SURROGATE_PROBLEM : undefined
  return message ? [{ path: base || '/', message }] : []
}

/** A string in parts of about SLICE_CHARS, never cutting a surrogate pair in two. */
function* slices(value: string): Generator<string> {
  for (let at = 0; at < value.length; ) {
    let end = Math.min(at + SLICE_CHARS, value.length)
    const last = value.charCodeAt(end - 1)
    if (end < value.length && last >= 0xd800 && last <= 0xdbff) end += 1
    yield value.slice(at, end)
    at = end
  }
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
    throw invalidUtf8(firstInvalidUtf8(body))
  }
}

const invalidUtf8 = (at: number) => new ProblemError(400, 'invalid_utf8', `the body is not valid UTF-8 (first bad byte at offset ${at})`, [{ path: '/', message: `is not valid UTF-8 at byte ${at}` }])

/** Bodies longer than this are decoded a slice at a time. */
const SLICE_BYTES = 1 << 20

/** A text decoded a slice at a time: the whole, and its consecutive pieces (about 1 MB of bytes each). */
export interface PiecedText {
  /** The whole text (pieces concatenated, not flattened: reading it whole costs a copy). */
  text: string
  pieces: string[]
}

/**
 * The pieces of a request's text body, where its content parser decoded it with decodeUtf8StrictSliced:
 * the text-input checks and the route read these, a piece at a time, instead of the whole.
 */
export const textBodyPieces = new WeakMap<object, readonly string[]>()

/**
 * decodeUtf8Strict for a large body (a JSONL upload): decoded 1 MB at a time, the event loop let
 * through between slices; the same text, and the same refusal naming the same offset.
 */
export async function decodeUtf8StrictSliced(body: Buffer): Promise<PiecedText> {
  if (body.length <= SLICE_BYTES) {
    const text = decodeUtf8Strict(body)
    return { text, pieces: [text] }
  }
  const slicer = new TimeSlicer()
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
  let text = ''
  const pieces: string[] = []
  // every byte before `boundary` belongs to a complete, valid character
  let boundary = 0
  for (let at = 0; at < body.length; at += SLICE_BYTES) {
    const end = Math.min(at + SLICE_BYTES, body.length)
    try {
      const piece = decoder.decode(body.subarray(at, end), { stream: end < body.length })
      pieces.push(piece)
      text += piece
    } catch {
      throw invalidUtf8(await firstInvalidUtf8Sliced(body, boundary, end, slicer))
    }
    boundary = end - unfinishedTail(body, end)
    await slicer.tick()
  }
  return { text, pieces }
}

/** How many bytes before `end` start a character that is not finished by `end` (0–3), in valid UTF-8. */
function unfinishedTail(b: Buffer, end: number): number {
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const byte = b[end - back]!
    if ((byte & 0xc0) === 0x80) continue // a continuation byte: its lead is further back
    const length = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2
    return length > back ? back : 0
  }
  return 0
}

/**
 * firstInvalidUtf8's answer, searching only [from, to]: `from` starts a character and all before it
 * decodes, and the prefix up to `to` does not decode as a stream (or `to` is the end), so the longest
 * prefix that decodes ends in there; decoding from `from` tells the same as decoding from 0.
 */
async function firstInvalidUtf8Sliced(b: Buffer, from: number, to: number, slicer: TimeSlicer): Promise<number> {
  let lo = from
  let hi = to
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(from, mid), { stream: true })
      lo = mid
    } catch {
      hi = mid - 1
    }
    await slicer.tick()
  }
  for (let back = 0; back < 3 && lo > 0 && !decodes(b.subarray(from, lo)); back++) lo -= 1
  return lo
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
