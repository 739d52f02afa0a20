// The `ray` execution backend (issue 15) on a real local Ray head: `ray start --head` on free ports,
// the launcher (python -m sys2ft_worker.ray_pool) with 2 engine actors of the tiny model, and the three
// services as their own processes with SYS2FT_RAY_ADDRESS + SYS2FT_RAY_POOL_URL. A generation run, a
// training job and an FT eval run go through the actors; the runs' chunks spread over both; kill -9 of
// the actor running a training → the job finishes once (one adapter, 2 attempts, nothing written
// twice, in SQL); a cancelled generation run stops on the actors; GET /cluster/status shows the
// cluster. The head is this test's alone (its own temp dir and ports) and is stopped by signalling the
// `ray start --block` process that owns it, never with a machine-wide `ray stop`.
import t from 'tap'
// a Ray head, 3 services and 2 model actors on 2 cores: 90 s alone, 4 min beside a loaded CI run
t.setTimeout(600_000)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import { createTestDatabase } from '@sys2ft/db/testing'
import { freePort, repoRoot, workerPython } from '@sys2ft/worker-client/testing'
import { seedBuiltinSets } from '../services/generation/src/domain/news-sets.ts'
import { SERVICES, serviceStack } from './chaos/stack.ts'

const started = Date.now()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const KEY = 'ray-client-key'
const WORKER_KEY = 'ray-worker-key'
const TERMINAL = ['succeeded', 'failed', 'cancelled']
const rayBin = path.join(repoRoot, 'infra/worker/.venv/bin/ray')

const hasRay = existsSync(rayBin) && spawnSync(workerPython, ['-c', 'import ray'], { encoding: 'utf8' }).status === 0
if (!hasRay) {
  t.fail('Ray is not installed in the worker venv: run `bash infra/worker/setup.sh --ray` (./sys2ft test does)')
  process.exit(1)
}

// a short temp dir: Ray's unix sockets live under it (108-byte path limit)
const dir = mkdtempSync(path.join(tmpdir(), 'ray-'))
const logFile = path.join(dir, 'services.log')
t.teardown(() => (t.passing() ? rmSync(dir, { recursive: true, force: true }) : t.comment(`kept ${dir} (services.log, launcher.log, ray/)`)))

/** Processes whose command line names this test's Ray temp dir: this head's and nothing else. */
function headProcesses(): number[] {
  const pids: number[] = []
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${dir}/ray`)) pids.push(Number(p))
    } catch {
      // gone
    }
  }
  return pids
}

const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())))
async function stopProcess(p: ChildProcess, ms: number) {
  if (p.exitCode !== null || p.signalCode !== null) return
  p.kill('SIGTERM')
  await Promise.race([exited(p), sleep(ms)])
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
}

// ---- the Ray head: `ray start --head --block` owns its processes and stops them on SIGTERM
const gcsPort = await freePort()
const extraPorts = await Promise.all(Array.from({ length: 5 }, () => freePort()))
const [agentPort, agentGrpcPort, metricsPort, envAgentPort, nodeManagerPort] = extraPorts as [number, number, number, number, number, number]
let headLog = ''
const head = spawn(rayBin, [
  'start', '--head', '--block', '--num-cpus', '2', '--port', String(gcsPort), '--disable-usage-stats', '--include-dashboard=false',
  '--temp-dir', `${dir}/ray`, '--dashboard-agent-listen-port', String(agentPort),
  '--dashboard-agent-grpc-port', String(agentGrpcPort), '--metrics-export-port', String(metricsPort), '--runtime-env-agent-port', String(envAgentPort),
  '--node-manager-port', String(nodeManagerPort),
], { cwd: path.join(repoRoot, 'infra/worker'), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RAY_USAGE_STATS_ENABLED: '0' } })
head.stdout!.on('data', (d) => (headLog += d))
head.stderr!.on('data', (d) => (headLog += d))
t.teardown(async () => {
  await stopProcess(head, 20_000)
  // anything of this head that outlived it (found by its temp dir in the command line)
  for (let i = 0; i < 20 && headProcesses().length > 0; i++) await sleep(250)
  for (const pid of headProcesses()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone meanwhile
    }
  }
})
for (let i = 0; !/Ray runtime started/.test(headLog); i++) {
  if (head.exitCode !== null || i > 240) throw new Error(`ray start --head failed:\n${headLog}`)
  await sleep(250)
}
const address = `127.0.0.1:${gcsPort}`
t.comment(`ray head at ${address} in ${((Date.now() - started) / 1000).toFixed(1)} s`)

// ---- the launcher: 2 actors of the tiny model, 1 CPU each, one shared adapter dir
const launcherPort = await freePort()
const poolUrl = `http://127.0.0.1:${launcherPort}`
const adapterDir = path.join(dir, 'adapters')
let launcherLog = ''
const launcher = spawn(workerPython, [
  '-m', 'sys2ft_worker.ray_pool', '--address', address, '--model', 'tiny-qwen2', '--replicas', '2', '--num-cpus', '1',
  '--port', String(launcherPort), '--adapter-dir', adapterDir, '--dtype', 'float32', '--replace-delay', '0.5', '--exit-with', String(process.pid),
], { cwd: path.join(repoRoot, 'infra/worker'), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HF_HUB_OFFLINE: '1', SYS2FT_WORKER_API_KEY: WORKER_KEY } })
launcher.stdout!.on('data', (d) => (launcherLog += d))
launcher.stderr!.on('data', (d) => (launcherLog += d))
t.teardown(() => stopProcess(launcher, 10_000))

interface Actor { name: string; url: string | null; state: string; pid: number | null; replacements: number; previous: { name: string; pid: number }[] }
async function pool(): Promise<{ actors: Actor[]; cluster: { actors: Record<string, number> } } | null> {
  try {
    const res = await fetch(`${poolUrl}/v1/pool`, { headers: { authorization: `Bearer ${WORKER_KEY}` } })
    return res.ok ? ((await res.json()) as { actors: Actor[]; cluster: { actors: Record<string, number> } }) : null
  } catch {
    return null
  }
}
async function aliveActors(n: number, ms: number): Promise<Actor[]> {
  const end = Date.now() + ms
  for (;;) {
    const p = await pool()
    const alive = p?.actors.filter((a) => a.state === 'alive') ?? []
    if (alive.length >= n) return alive
    if (launcher.exitCode !== null || Date.now() > end) throw new Error(`launcher: ${alive.length}/${n} actors alive after ${ms / 1000} s:\n${launcherLog.slice(-4000)}`)
    await sleep(250)
  }
}
const actors = await aliveActors(2, 90_000)
t.comment(`2 actors alive at ${((Date.now() - started) / 1000).toFixed(1)} s: ${actors.map((a) => `${a.name} ${a.url} pid ${a.pid}`).join(', ')}`)

// ---- the services, each its own process, with the Ray backend on
const tdb = await createTestDatabase({ migrate: true })
t.teardown(() => tdb.drop())
await seedBuiltinSets(tdb.db)
const setId = (await tdb.db.selectFrom('news_sets').select('id').where('kind', '=', 'news').where('builtin', '=', true).executeTakeFirstOrThrow()).id
const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()]))) as Record<(typeof SERVICES)[number], number>
const stack = serviceStack({
  ports,
  logFile,
  env: {
    DATABASE_URL: tdb.url,
    SYS2FT_API_KEYS: KEY,
    SYS2FT_SERVICE_KEY: 'ray-service-key',
    SYS2FT_WORKER_API_KEY: WORKER_KEY,
    SYS2FT_RAY_ADDRESS: address,
    SYS2FT_RAY_POOL_URL: poolUrl,
    SYS2FT_TRAINING_POLL_MS: '200',
    SYS2FT_TRAINING_HEALTH_MS: '1000',
    SYS2FT_DB_POOL_MAX: '4',
    SYS2FT_LOG_LEVEL: 'warn',
    SYS2FT_DATA_DIR: dir,
  },
})
t.teardown(() => stack.stop())
await Promise.all(SERVICES.map((s) => stack.services[s].start()))
const url = (s: (typeof SERVICES)[number]) => stack.services[s].url
async function api<T = any>(method: string, u: string, body?: object): Promise<{ status: number; json: T }> {
  const headers = { authorization: `Bearer ${KEY}`, ...(body && { 'content-type': 'application/json' }) }
  const res = await fetch(u, { method, headers, ...(body && { body: JSON.stringify(body) }) })
  return { status: res.status, json: (await res.json()) as T }
}
// a hang guard, not a speed check: on a loaded 2-core CI machine the kill -9 training took over 60 s
async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 240_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`${what}: not within ${ms / 1000} s; see ${logFile}`)
    await sleep(200)
  }
}
const terminal = (u: string) => until(u, async () => {
  const r = await api(`GET`, u)
  return TERMINAL.includes(r.json.state) ? r.json : null
})

/** The actor each chunk's progress event names, counted. */
async function chunksPerActor(table: 'generation_run_events' | 'eval_run_events', runId: string): Promise<Record<string, number>> {
  const rows = await tdb.db.selectFrom(table).select(sql<string>`data->>'worker'`.as('w')).where('run_id', '=', runId).where('type', '=', 'progress').execute()
  const out: Record<string, number> = {}
  for (const r of rows) out[r.w ?? '(none)'] = (out[r.w ?? '(none)'] ?? 0) + 1
  return out
}

let genRunId = ''
t.test('a generation run through Ray: its chunks spread over both actors, each written once', async (t) => {
  const t0 = Date.now()
  const created = await api('POST', `${url('generation')}/generation-runs`, { news_set_id: setId, protocol: 'paraphrase', filter: { item_keys: ['mathematics-001', 'coding-001', 'events-001', 'leaderboards-001', 'mathematics-002', 'coding-002'] }, options: { samples_per_news: 2, max_tokens: 24, items_per_call: 1, seed: 3 } })
  t.equal(created.status, 202, JSON.stringify(created.json))
  genRunId = created.json.id
  const run = await terminal(`${url('generation')}/generation-runs/${genRunId}`)
  t.equal(run.state, 'succeeded', run.error ?? '')
  const spread = await chunksPerActor('generation_run_events', genRunId)
  t.comment(`generation: 6 chunks in ${((Date.now() - t0) / 1000).toFixed(1)} s, per actor ${JSON.stringify(spread)}`)
  t.same(Object.keys(spread).sort(), actors.map((a) => a.name).sort(), 'chunks ran on both actors')
  t.equal(Object.values(spread).reduce((a, b) => a + b, 0), 6, 'one progress event per chunk')
  const dup = await sql<{ n: string }>`select count(*) - count(distinct (item_id, sample_index)) as n from generation_samples where run_id = ${genRunId}`.execute(tdb.db)
  t.equal(Number(dup.rows[0]!.n), 0, 'no sample written twice')
  const samples = await tdb.db.selectFrom('generation_samples').select(sql<string>`count(*)`.as('n')).where('run_id', '=', genRunId).executeTakeFirstOrThrow()
  t.equal(Number(samples.n), run.samples.accepted + run.samples.rejected, 'every sample counted once')
  const items = await tdb.db.selectFrom('generation_samples').select(sql<string>`count(distinct item_id)`.as('n')).where('run_id', '=', genRunId).executeTakeFirstOrThrow()
  t.equal(Number(items.n), 6, 'every news item written')
})

let adapterId = ''
t.test('kill -9 of the actor running a training: the job is requeued with an attempt counted and finishes once on another actor', async (t) => {
  const t0 = Date.now()
  const created = await api('POST', `${url('training')}/training-jobs`, { base_model: 'tiny-qwen2', data: [{ news_set_id: setId, item_keys: ['mathematics-001', 'coding-001', 'events-001', 'leaderboards-001'] }], hyperparameters: { lora: { r: 4, alpha: 8 }, epochs: 40, batch_size: 1, max_seq_len: 256 }, max_attempts: 3 })
  t.equal(created.status, 202, JSON.stringify(created.json))
  const jobId = created.json.id
  // running, with at least one step done, on an actor
  const first = await until('the job to train', async () => {
    const j = await tdb.db.selectFrom('training_jobs').innerJoin('workers', 'workers.id', 'training_jobs.worker_id').select(['training_jobs.state', 'training_jobs.progress_done', 'workers.name', 'workers.labels']).where('training_jobs.id', '=', jobId).executeTakeFirst()
    return j && j.state === 'running' && j.progress_done >= 1 ? j : null
  })
  t.equal(first.labels.backend, 'ray', 'the worker is a Ray actor')
  const victim = (await pool())!.actors.find((a) => a.name === first.name)!
  t.ok(victim?.pid, `actor ${first.name} has a pid`)
  process.kill(victim.pid!, 'SIGKILL')
  t.comment(`killed ${victim.name} (pid ${victim.pid}) at step ${first.progress_done}, ${((Date.now() - t0) / 1000).toFixed(1)} s into the job`)
  const job = await terminal(`${url('training')}/training-jobs/${jobId}`)
  t.equal(job.state, 'succeeded', job.error ?? '')
  const row = await tdb.db.selectFrom('training_jobs').innerJoin('workers', 'workers.id', 'training_jobs.worker_id').select(['training_jobs.attempts', 'workers.name']).where('training_jobs.id', '=', jobId).executeTakeFirstOrThrow()
  t.equal(row.attempts, 2, 'two attempts: the lost one counted')
  t.not(row.name, victim.name, `finished on another actor (${row.name})`)
  const adapters = await tdb.db.selectFrom('adapters').select(['id', 'location']).where('job_id', '=', jobId).execute()
  t.equal(adapters.length, 1, 'one adapter')
  t.equal(adapters[0]!.location.pool, 'ray', 'marked as on the shared registry')
  adapterId = adapters[0]!.id
  const requeued = await tdb.db.selectFrom('training_job_events').select(['state', 'message']).where('job_id', '=', jobId).where('state', '=', 'queued').execute()
  t.ok(requeued.length >= 2, `requeued after the kill: ${requeued.map((e) => e.message).join(' | ')}`)
  const onDisk = readdirSync(adapterDir).filter((n) => !n.startsWith('.'))
  t.same(onDisk, [jobId], 'one adapter directory in the shared registry')
  // the launcher replaced the dead actor
  const now = await aliveActors(2, 240_000)
  t.ok(now.some((a) => a.replacements === 1 && a.previous.some((p) => p.pid === victim.pid)), 'the dead actor’s slot got a new actor')
  t.comment(`training: ${((Date.now() - t0) / 1000).toFixed(1)} s with the kill and the retry`)
})

t.test('an FT eval run through Ray: every actor serves the adapter from the shared registry; chunks spread, each result once', async (t) => {
  const t0 = Date.now()
  const alive = await aliveActors(2, 240_000)
  await sleep(2_500) // the services' view of the pool (refreshed every 2 s) includes the new actor
  const created = await api('POST', `${url('evaluation')}/eval-runs`, { model: 'tiny-qwen2', adapter_id: adapterId, set_id: setId, mode: 'ft', filter: { item_keys: ['mathematics-001', 'coding-001'] }, options: { questions_per_call: 2 } })
  t.equal(created.status, 202, JSON.stringify(created.json))
  const run = await terminal(`${url('evaluation')}/eval-runs/${created.json.id}`)
  t.equal(run.state, 'succeeded', run.error ?? '')
  const spread = await chunksPerActor('eval_run_events', created.json.id)
  t.comment(`eval: ${run.progress.total} questions in ${((Date.now() - t0) / 1000).toFixed(1)} s, per actor ${JSON.stringify(spread)}`)
  t.same(Object.keys(spread).sort(), alive.map((a) => a.name).sort(), 'chunks on both actors, the replacement included')
  const dup = await sql<{ n: string; total: string }>`select count(*) as total, count(*) - count(distinct question_id) as n from eval_results where run_id = ${created.json.id}`.execute(tdb.db)
  t.equal(Number(dup.rows[0]!.n), 0, 'no result written twice')
  t.equal(Number(dup.rows[0]!.total), run.progress.total, 'every question scored')
})

t.test('cancel reaches the actors: a generation run stops, the actors serve on', async (t) => {
  const created = await api('POST', `${url('generation')}/generation-runs`, { news_set_id: setId, protocol: 'paraphrase', filter: { domains: ['mathematics', 'coding'] }, options: { samples_per_news: 8, max_tokens: 512, items_per_call: 1, seed: 4 } })
  t.equal(created.status, 202)
  const id = created.json.id
  await until('the run to start', async () => (await api('GET', `${url('generation')}/generation-runs/${id}`)).json.state === 'running')
  await sleep(500)
  const c0 = Date.now()
  const cancel = await api('DELETE', `${url('generation')}/generation-runs/${id}`)
  t.equal(cancel.status, 202)
  const run = await terminal(`${url('generation')}/generation-runs/${id}`)
  t.equal(run.state, 'cancelled')
  t.comment(`cancelled in ${Date.now() - c0} ms, ${run.progress.done}/${run.progress.total} items done`)
  t.ok(run.progress.done < run.progress.total, 'stopped before the end')
  for (const a of await aliveActors(2, 10_000)) {
    const info = await fetch(`${a.url}/v1/info`, { headers: { authorization: `Bearer ${WORKER_KEY}` } })
    t.equal(info.status, 200, `${a.name} still serves`)
  }
})

t.test('GET /cluster/status shows the Ray cluster: nodes, CPUs, actors and queued work', async (t) => {
  const res = await api('GET', `${url('evaluation')}/cluster/status`)
  t.equal(res.status, 200)
  const ray = res.json.ray
  t.match(ray, { address, pool_url: poolUrl, reachable: true, error: null, model: 'tiny-qwen2', cpus: { total: 2 } })
  t.equal(ray.nodes.length, 1, 'one node')
  t.match(ray.nodes[0], { alive: true, cpus: { total: 2 } })
  t.equal(ray.actors.alive, 2, 'two actors alive')
  t.equal(ray.actors.dead, 1, 'the killed one, dead')
  t.equal(ray.actors.list.filter((a: Actor) => a.state === 'alive').length, 2)
  t.match(ray.queued_work, { generation_runs: { queued: 0, running: 0 }, eval_runs: { queued: 0, running: 0 }, training_jobs: { queued: 0, dispatched: 0, running: 0 } })
  t.notOk(res.json.peers.some((p: { name: string }) => p.name === 'worker'), 'no SYS2FT_WORKER_URL peer: the actors are the workers')
  const training = await api('GET', `${url('training')}/workers`)
  const names = training.json.data.map((w: { name: string }) => w.name).sort()
  t.same(names, (await aliveActors(2, 1_000)).map((a) => a.name).sort(), 'the training service’s workers are the alive actors (the dead one removed, no default)')
  t.same(stack.unexpectedExits, [], 'no service exited by itself')
  t.comment(`total ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
