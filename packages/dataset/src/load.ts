import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { runSliced, runToEnd } from '@sys2ft/service-kit/slices'
import { DOMAINS, type ControlQuestion, type Domain, type NewsItem } from './schema.ts'

export const dataDir = fileURLToPath(new URL('../data/', import.meta.url))

export interface JsonlLine {
  line: number
  value: unknown
  error?: string
}

/** The most items (lines) one imported set may hold; FORMAT.md and the import route say so. */
export const MAX_SET_ITEMS = 10_000

/** Non-empty lines of a JSONL text, counted without parsing (a hostile upload is refused in milliseconds). */
export function countJsonlLines(text: string): number {
  return runToEnd(countJsonlLinesSteps(text))
}

/**
 * countJsonlLines cut into time slices (an upload of 64 MB must not hold the event loop); the text
 * whole, or in consecutive pieces (as decodeUtf8StrictSliced gives them: lines may span pieces).
 */
export function countJsonlLinesSliced(text: string | readonly string[]): Promise<number> {
  return runSliced(countJsonlLinesSteps(text))
}

/** The lines of a JSONL text as split('\n') gives them, one at a time (no array of a million strings). */
function* rawLines(text: string | readonly string[]): Generator<string> {
  let carry = ''
  for (const piece of typeof text === 'string' ? [text] : text) {
    let at = 0
    for (let end = piece.indexOf('\n'); end >= 0; end = piece.indexOf('\n', at)) {
      yield carry + piece.slice(at, end)
      carry = ''
      at = end + 1
    }
    carry += piece.slice(at)
  }
  yield carry
}

function* countJsonlLinesSteps(text: string | readonly string[]): Generator<void, number> {
  let n = 0
  let seen = 0
  for (const line of rawLines(text)) {
    if (line.trim() !== '') n += 1
    if (++seen % 512 === 0) yield
  }
  return n
}

/** Splits JSONL text into parsed lines (1-based line numbers; blank lines skipped; a bad line keeps its error). */
export function parseJsonl(text: string): JsonlLine[] {
  return runToEnd(parseJsonlSteps(text))
}

/** parseJsonl cut into time slices: the same lines, the event loop let through between slices; the text whole or in pieces. */
export function parseJsonlSliced(text: string | readonly string[]): Promise<JsonlLine[]> {
  return runSliced(parseJsonlSteps(text))
}

function* parseJsonlSteps(text: string | readonly string[]): Generator<void, JsonlLine[]> {
  const out: JsonlLine[] = []
  let i = 0
  for (const raw of rawLines(text)) {
    i += 1
    if (raw.trim() === '') {
      if (i % 512 === 0) yield
      continue
    }
    try {
      out.push({ line: i, value: JSON.parse(raw) })
    } catch (err) {
      out.push({ line: i, value: undefined, error: `not valid JSON: ${(err as Error).message}` })
    }
    yield
  }
  return out
}

function readJsonl<T>(file: string): T[] {
  return parseJsonl(readFileSync(file, 'utf8')).map((l) => {
    if (l.error) throw new Error(`${file}:${l.line}: ${l.error}`)
    return l.value as T
  })
}

export interface BuiltinDataset {
  version: string
  news: NewsItem[]
  control: ControlQuestion[]
}

/** The shipped New News set and control set, as files in this package. */
export function loadBuiltin(dir = dataDir): BuiltinDataset {
  const version = readFileSync(path.join(dir, 'VERSION'), 'utf8').trim()
  const news = DOMAINS.flatMap((d: Domain) => readJsonl<NewsItem>(path.join(dir, 'news', `${d}.jsonl`)))
  const control = readJsonl<ControlQuestion>(path.join(dir, 'control', 'general.jsonl'))
  return { version, news, control }
}
