#!/usr/bin/env node
// `pnpm dataset validate [--json]` checks the shipped set; `pnpm dataset stats [--json]` prints its statistics.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { dataDir, parseJsonl } from './load.ts'
import { DOMAINS } from './schema.ts'
import { errorsOf, validateControlSet, validateNewsSet, type Issue } from './validate.ts'
import { computeStats, formatStats } from './stats.ts'
import { loadBuiltin } from './load.ts'

const [command, ...flags] = process.argv.slice(2)
const json = flags.includes('--json')

function validateShipped(): { issues: (Issue & { file: string })[]; checks: { evaluated: number; mismatched: number } } {
  // All domain files are validated as one set (ids unique across files, balance over all questions);
  // each issue is then mapped back to its own file and line.
  const origin: { file: string; line: number }[] = []
  const lines = DOMAINS.flatMap((d) => {
    const file = path.join('news', `${d}.jsonl`)
    return parseJsonl(readFileSync(path.join(dataDir, file), 'utf8')).map((l) => {
      origin.push({ file, line: l.line })
      return { ...l, line: origin.length }
    })
  })
  const news = validateNewsSet(lines, { shipped: true, evaluateChecks: true })
  const issues = news.issues.map((i) => {
    const o = i.line ? origin[i.line - 1]! : { file: 'news/*', line: undefined }
    return { ...i, file: o.file, ...(o.line ? { line: o.line } : {}) }
  })
  const control = validateControlSet(parseJsonl(readFileSync(path.join(dataDir, 'control', 'general.jsonl'), 'utf8')), { shipped: true })
  issues.push(...control.issues.map((i) => ({ ...i, file: 'control/general.jsonl' })))
  return { issues, checks: news.checks }
}

if (command === 'validate') {
  const { issues, checks } = validateShipped()
  const errors = errorsOf(issues)
  if (json) console.log(JSON.stringify({ ok: errors.length === 0, issues, checks }, null, 2))
  else {
    for (const i of issues) console.log(`${i.severity}: ${i.file}${i.line ? `:${i.line}` : ''} ${i.path} ${i.message}`)
    console.log(`${errors.length} errors, ${issues.length - errors.length} warnings; ${checks.evaluated} answer checks recomputed, ${checks.mismatched} mismatched`)
  }
  process.exit(errors.length ? 1 : 0)
} else if (command === 'stats') {
  const d = loadBuiltin()
  const s = computeStats(d.version, d.news, d.control)
  console.log(json ? JSON.stringify(s, null, 2) : formatStats(s))
} else {
  console.error('usage: dataset validate|stats [--json]')
  process.exit(2)
}
