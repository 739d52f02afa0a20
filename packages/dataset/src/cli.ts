#!/usr/bin/env node
// `pnpm dataset validate [--json]` checks the shipped set; `pnpm dataset stats [--json]` prints its statistics.
import { loadBuiltin } from './load.ts'
import { errorsOf } from './validate.ts'
import { computeStats, formatStats } from './stats.ts'
import { validateShipped } from './shipped.ts'

const [command, ...flags] = process.argv.slice(2)
const json = flags.includes('--json')

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
