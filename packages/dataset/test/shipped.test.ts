import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DOMAINS, computeStats, errorsOf, loadBuiltin, validateShipped } from '../src/index.ts'

t.test('the shipped New News set and control set pass the validator', async (t) => {
  const { issues, checks } = validateShipped()
  t.same(errorsOf(issues), [], 'no errors')
  t.equal(checks.mismatched, 0, 'every recomputed answer matches')
  t.ok(checks.evaluated >= 100, `${checks.evaluated} answers recomputed with math.js`)
})

t.test('the shipped set meets the product’s size and mix', async (t) => {
  const d = loadBuiltin()
  const s = computeStats(d.version, d.news, d.control)
  for (const dom of s.domains) {
    t.ok(dom.items >= 20, `${dom.domain}: ${dom.items} items`)
    t.equal(dom.questions, dom.items * 5)
  }
  t.ok(s.total.items >= 100 && s.total.questions >= 500)
  t.ok(s.total.implication >= 3 * s.total.items, 'at least 3 of 5 questions per item are implication')
  t.ok(s.control.questions >= 100)
  for (const p of s.answer_positions) t.ok(p >= 0.2 && p <= 0.3)
  t.ok(s.longest_option_correct <= 0.35)
  t.same(s.domains.map((x) => x.domain), [...DOMAINS])
})

t.test('the dataset command prints the statistics and validates', async (t) => {
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
  const stats = spawnSync(process.execPath, ['--import', 'tsx', cli, 'stats'], { encoding: 'utf8' })
  t.equal(stats.status, 0, stats.stderr)
  t.match(stats.stdout, /^New News dataset \d{4}\.\d+\.\d+/)
  for (const d of DOMAINS) t.match(stats.stdout, new RegExp(`^${d}\\s+20\\s+100`, 'm'))
  t.match(stats.stdout, /answer positions \(A B C D\): /)
  const validate = spawnSync(process.execPath, ['--import', 'tsx', cli, 'validate'], { encoding: 'utf8' })
  t.equal(validate.status, 0, validate.stdout + validate.stderr)
  t.match(validate.stdout, /^0 errors, \d+ warnings; \d+ answer checks recomputed, 0 mismatched$/m)
})
