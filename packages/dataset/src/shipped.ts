import { readFileSync } from 'node:fs'
import path from 'node:path'
import { dataDir, parseJsonl } from './load.ts'
import { DOMAINS } from './schema.ts'
import { validateControlSet, validateNewsSet, type Issue } from './validate.ts'

export type FileIssue = Issue & { file: string }

/** Validates the shipped files with the product's strict rules, every answer check recomputed. */
export function validateShipped(dir = dataDir): { issues: FileIssue[]; checks: { evaluated: number; mismatched: number } } {
  // All domain files are validated as one set (ids unique across files, balance over all questions);
  // each issue is then mapped back to its own file and line.
  const origin: { file: string; line: number }[] = []
  const lines = DOMAINS.flatMap((d) => {
    const file = path.join('news', `${d}.jsonl`)
    return parseJsonl(readFileSync(path.join(dir, file), 'utf8')).map((l) => {
      origin.push({ file, line: l.line })
      return { ...l, line: origin.length }
    })
  })
  const news = validateNewsSet(lines, { shipped: true, evaluateChecks: true })
  const issues = news.issues.map((i) => {
    const o = i.line ? origin[i.line - 1]! : { file: 'news/*', line: undefined }
    return { ...i, file: o.file, ...(o.line ? { line: o.line } : {}) }
  })
  const control = validateControlSet(parseJsonl(readFileSync(path.join(dir, 'control', 'general.jsonl'), 'utf8')), { shipped: true })
  issues.push(...control.issues.map((i) => ({ ...i, file: 'control/general.jsonl' })))
  return { issues, checks: news.checks }
}
