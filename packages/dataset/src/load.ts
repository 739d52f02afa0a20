import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { DOMAINS, type ControlQuestion, type Domain, type NewsItem } from './schema.ts'

export const dataDir = fileURLToPath(new URL('../data/', import.meta.url))

export interface JsonlLine {
  line: number
  value: unknown
  error?: string
}

/** Splits JSONL text into parsed lines (1-based line numbers; blank lines skipped; a bad line keeps its error). */
/** The most items (lines) one imported set may hold; FORMAT.md and the import route say so. */
export const MAX_SET_ITEMS = 10_000

/** Non-empty lines of a JSONL text, counted without parsing (a hostile upload is refused in milliseconds). */
export function countJsonlLines(text: string): number {
  let n = 0
  for (const line of text.split('\n')) if (line.trim() !== '') n += 1
  return n
}

export function parseJsonl(text: string): JsonlLine[] {
  const out: JsonlLine[] = []
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return
    try {
      out.push({ line: i + 1, value: JSON.parse(raw) })
    } catch (err) {
      out.push({ line: i + 1, value: undefined, error: `not valid JSON: ${(err as Error).message}` })
    }
  })
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
