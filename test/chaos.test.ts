// The chaos suite (issue 14): a tiny experiment (tiny model, 2 workers) runs once undisturbed and
// once while a seeded schedule kill -9s each service process, a worker and Postgres, each started
// again after a while. Afterwards, in SQL: everything is terminal and the experiment succeeded, no
// sample or result is lost or written twice, no resource was created twice, no training job ran on
// two workers at once, and the experiment's per-cell figures equal the undisturbed run's.
// SYS2FT_CHAOS_SEED picks the schedule (default: drawn, and printed); SYS2FT_CHAOS_LOG=<file> keeps
// the services' logs there; SYS2FT_CHAOS_DEBUG=1 prints every job's events at the end.
import t from 'tap'
import { mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sql, type Kysely } from 'kysely'
import { createDb, migrateToLatest, type Database } from '@sys2ft/db'
import { freePort, startWorker, type RunningWorker } from '@sys2ft/worker-client/testing'
import { seedBuiltinSets } from '../services/generation/src/domain/news-sets.ts'
import { killablePostgres } from './chaos/postgres.ts'
import { SERVICES, serviceStack, type ServiceName, type Stack } from './chaos/stack.ts'
import { PHASES, chaosSchedule, type Fault } from './chaos/schedule.ts'

const started = Date.now()
const seed = process.env.SYS2FT_CHAOS_SEED ? Number(process.env.SYS2FT_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31)
t.comment(`chaos seed ${seed} (rerun with SYS2FT_CHAOS_SEED=${seed})`)
const TERMINAL = ['succeeded', 'failed', 'cancelled']
const KEY = 'chaos-client-key'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const dir = mkdtempSync(path.join(tmpdir(), 'sys2ft-chaos-'))
const logFile = process.env.SYS2FT_CHAOS_LOG ?? path.join(dir, 'services.log')
// kept when something failed: the services' log is in it
t.teardown(() => (t.passing() ? rmSync(dir, { recursive: true, force: true }) : t.comment(`kept ${dir} (services.log)`)))
const pg = await killablePostgres()
t.teardown(() => pg.destroy())

// One database per run on the same server: the undisturbed run's, and the chaos run's made as a copy
// of it before it ran. A copy, not a second seeding: an eval run's option order is a seeded
// permutation per question *id*, and the shipped questions get fresh ids each time they are seeded.
await pg.createDatabase('sys2ft_calm')
const seeding = createDb({ url: pg.url('sys2ft_calm'), poolMax: 1, onIdleError: () => {} })
await migrateToLatest(seeding)
await seedBuiltinSets(seeding)
await seeding.destroy()
await pg.createDatabase('sys2ft_chaos', 'sys2ft_calm')
const dbs: Record<'calm' | 'chaos', Kysely<Database>> = {
  calm: createDb({ url: pg.url('sys2ft_calm'), poolMax: 3, onIdleError: () => {} }),
  chaos: createDb({ url: pg.url('sys2ft_chaos'), poolMax: 3, onIdleError: () => {} }),
}
t.teardown(() => Promise.all(Object.values(dbs).map((db) => db.destroy())))

// two workers with the tiny model; each keeps its port and adapter folder across a restart
const workers: RunningWorker[] = await Promise.all([startWorker(), startWorker()])
t.teardown(() => Promise.all(workers.map((w) => w.stop('SIGKILL'))))
const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()]))) as Record<ServiceName, number>

function stackOn(db: 'calm' | 'chaos'): Stack {
  return serviceStack({
    ports,
    logFile,
    env: {
      DATABASE_URL: pg.url(`sys2ft_${db}`),
      SYS2FT_API_KEYS: KEY,
      SYS2FT_SERVICE_KEY: 'chaos-service-key',
      SYS2FT_WORKER_URL: workers[0]!.url,
      SYS2FT_WORKERS: JSON.stringify([{ name: 'second', url: workers[1]!.url }]),
      SYS2FT_TRAINING_POLL_MS: '200',
      // long enough to outlast a training service's restart (~5 s here): the restarted dispatcher finds
      // its attempt still running on the worker (a shorter one fences it: the worker cancels it)
      SYS2FT_TRAINING_LEASE_MS: '15000',
      SYS2FT_TRAINING_HEALTH_MS: '1000',
      SYS2FT_DB_POOL_MAX: '4',
      SYS2FT_LOG_LEVEL: 'warn',
      SYS2FT_DATA_DIR: dir,
    },
  })
}

// The smallest experiment that goes through all three services: 3 news items, Self-QA (+ replay, so
// the tiny model's rejected self-made data still leaves something to train on) with 2 samples per
// news, one item per worker call (3 chunks to kill generation between), one epoch; base, ICL and FT
// evaluations of the 15 questions. 5 cells. One item per generation call and one scoring call per
// eval run (15 questions < 32 per call) also keep every worker batch the same after a resume: the
// worker promises identical output only for identical batches (padding changes float rounding, and
// the tiny random model's options are near ties), so a resumed run redoes whole batches, never parts.
const spec = {
  name: 'chaos',
  item_keys: ['mathematics-001', 'coding-001', 'events-001'],
  protocols: [{ protocol: 'self_qa', replay: 1 }],
  samples_per_news: [2],
  training: { epochs: [1], batch_size: 2 },
  generation: { max_tokens: 32, items_per_call: 1 },
}

async function post(stack: Stack, body: object): Promise<string> {
  const res = await fetch(`${stack.services.evaluation.url}/experiments`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = (await res.json()) as { id: string }
  if (res.status !== 202) throw new Error(`POST /experiments: ${res.status} ${JSON.stringify(json)}`)
  return json.id
}

/** The experiment's state read in SQL; null while the database does not answer. */
async function stateOf(db: Kysely<Database>, id: string): Promise<string | null> {
  try {
    return (await db.selectFrom('experiments').select('state').where('id', '=', id).executeTakeFirstOrThrow()).state
  } catch {
    return null
  }
}

async function finished(db: Kysely<Database>, id: string, ms: number): Promise<string> {
  const end = Date.now() + ms
  for (;;) {
    const s = await stateOf(db, id)
    if (s && TERMINAL.includes(s)) return s
    if (Date.now() > end) throw new Error(`experiment ${id} still ${s} after ${ms / 1000} s; see ${logFile}`)
    await sleep(250)
  }
}

/** How far the experiment got: 1 its generation run exists, 2 its training job, 3 its FT eval run, 4 it ended. */
async function level(db: Kysely<Database>, id: string): Promise<number> {
  try {
    if (TERMINAL.includes((await stateOf(db, id)) ?? '')) return 4
    const cells = await db.selectFrom('experiment_cells').select(['kind', 'key', 'resource_id']).where('experiment_id', '=', id).execute()
    const has = (p: (c: (typeof cells)[number]) => boolean) => cells.some((c) => p(c) && c.resource_id)
    if (has((c) => c.key.startsWith('eval:ft:'))) return 3
    if (has((c) => c.kind === 'training')) return 2
    if (has((c) => c.kind === 'generation')) return 1
    return 0
  } catch {
    return -1
  }
}

/** Per-cell figures of the results table: what must equal between the two runs. */
async function figures(db: Kysely<Database>, id: string) {
  const e = await db.selectFrom('experiments').select('results').where('id', '=', id).executeTakeFirstOrThrow()
  const rows = ((e.results as { rows: any[] }).rows ?? []).map((r) => ({
    cell: r.cell,
    method: r.method,
    n: r.accuracy.n,
    accuracy: r.accuracy.value,
    by_type: Object.fromEntries(Object.entries(r.by_type as Record<string, { n: number; value: number }>).map(([k, v]) => [k, [v.n, v.value]])),
  }))
  return rows.sort((a, b) => a.cell.localeCompare(b.cell))
}

// ——— the undisturbed run ———
// (inside subtests: tap ends a root test that sits idle between top-level assertions)
let calmId = ''
let calmSeconds = 0
let calmFigures: Awaited<ReturnType<typeof figures>> = []
t.test('the undisturbed run', async (t) => {
  const calmStack = stackOn('calm')
  t.teardown(() => calmStack.stop())
  await Promise.all(SERVICES.map((s) => calmStack.services[s].start()))
  const calmStarted = Date.now()
  calmId = await post(calmStack, spec)
  const calmState = await finished(dbs.calm, calmId, 90_000)
  calmSeconds = (Date.now() - calmStarted) / 1000
  await calmStack.stop()
  t.equal(calmState, 'succeeded', 'the undisturbed experiment succeeded')
  t.same(calmStack.unexpectedExits, [], 'no service exited by itself in the undisturbed run')
  calmFigures = await figures(dbs.calm, calmId)
  t.equal(calmFigures.length, 3, 'base, ICL and FT rows')
  t.comment(`undisturbed run: ${calmSeconds.toFixed(1)} s`)
})

// ——— the same experiment under the schedule ———
const schedule = chaosSchedule(seed)
const stack = stackOn('chaos')
t.teardown(() => stack.stop())
let chaosId = ''
let chaosState = ''
let chaosSeconds = 0
let chaosStarted = 0
const injected: string[] = []
const restarts: Promise<unknown>[] = []
t.comment(`schedule: ${schedule.map((f) => `${f.target}@${f.phase}+${f.delayMs}ms/${f.downMs}ms down`).join(', ')}`)

/** What the fault hit: the states of the experiment's resources at the moment of the kill. */
async function snapshot(): Promise<string> {
  const db = dbs.chaos
  const q = async (table: 'generation_runs' | 'training_jobs' | 'eval_runs') => (await db.selectFrom(table).select('state').execute()).map((r) => r.state).join('/')
  try {
    return `gen ${await q('generation_runs')}, train ${await q('training_jobs')}, eval ${await q('eval_runs')}`
  } catch {
    return 'database down'
  }
}

async function inject(f: Fault): Promise<void> {
  const want = PHASES.indexOf(f.phase) + 1
  for (const end = Date.now() + 120_000; ;) {
    const l = await level(dbs.chaos, chaosId)
    if (l >= want) break
    if (Date.now() > end) throw new Error(`the experiment never reached its ${f.phase} phase (level ${l}); see ${logFile}`)
    await sleep(100)
  }
  // generation waits (a while) for its first chunk, the training faults for the job to be with a
  // worker, so the kill lands mid-run
  if (f.target === 'generation') {
    const end = Date.now() + 15_000
    while (Date.now() < end) {
      const run = await dbs.chaos.selectFrom('generation_runs').select(['state', 'progress_done']).executeTakeFirst().catch(() => undefined)
      if (run && (TERMINAL.includes(run.state) || run.progress_done >= 1)) break
      await sleep(20)
    }
  }
  if (f.phase === 'evaluation') {
    const end = Date.now() + 15_000
    while (Date.now() < end) {
      const run = await dbs.chaos.selectFrom('eval_runs').select('state').where('mode', '=', 'ft').executeTakeFirst().catch(() => undefined)
      if (run && run.state !== 'queued') break
      await sleep(20)
    }
  }
  let trainingWorker: string | null = null
  if (f.phase === 'training') {
    const end = Date.now() + 15_000
    while (Date.now() < end) {
      const job = await dbs.chaos.selectFrom('training_jobs').leftJoin('workers', 'workers.id', 'training_jobs.worker_id').select(['training_jobs.state', 'workers.url']).executeTakeFirst().catch(() => undefined)
      if (job && TERMINAL.includes(job.state)) break
      if (job && (job.state === 'dispatched' || job.state === 'running')) {
        trainingWorker = job.url
        break
      }
      await sleep(100)
    }
  }
  await sleep(f.delayMs)
  if ((await level(dbs.chaos, chaosId)) === 4) return void injected.push(`${f.target}: not injected, the experiment had ended`)
  const at = await snapshot()
  const genDone = await dbs.chaos.selectFrom('generation_runs').select(['progress_done', 'progress_total']).executeTakeFirst().catch(() => undefined)
  const when = `${((Date.now() - chaosStarted) / 1000).toFixed(1)} s`
  if (f.target === 'postgres') {
    await pg.kill()
    await sleep(f.downMs)
    await pg.start()
  } else if (f.target === 'worker') {
    // the worker training the job (else the first), started again on its port with its adapters
    const i = Math.max(0, workers.findIndex((w) => w.url === trainingWorker))
    const w = workers[i]!
    await w.stop('SIGKILL')
    restarts.push(sleep(f.downMs).then(async () => (workers[i] = await startWorker({ port: w.port, adapterDir: w.adapterDir }))))
  } else {
    await stack.services[f.target].kill()
    await sleep(f.downMs)
    await stack.services[f.target].start()
  }
  injected.push(`${f.target} kill -9 at ${when} (${at}${f.target === 'generation' && genDone ? `, ${genDone.progress_done}/${genDone.progress_total} news generated` : ''}), down ${f.downMs} ms`)
}

t.test('the same experiment under the schedule', async (t) => {
  await Promise.all(SERVICES.map((s) => stack.services[s].start()))
  chaosStarted = Date.now()
  chaosId = await post(stack, spec)
  for (const f of schedule) await inject(f)
  await Promise.all(restarts)
  chaosState = await finished(dbs.chaos, chaosId, 150_000)
  chaosSeconds = (Date.now() - chaosStarted) / 1000
  for (const line of injected) t.comment(`fault: ${line}`)
  t.pass(`ended ${chaosState} after ${chaosSeconds.toFixed(1)} s`)
})

t.test('every fault was injected while the experiment ran, and no service exited by itself', async (t) => {
  t.equal(injected.filter((l) => l.includes('kill -9')).length, schedule.length, `${schedule.length} kills`)
  t.same(stack.unexpectedExits, [], 'every exit was a kill of the schedule')
  for (const s of SERVICES) t.ok(stack.services[s].running(), `${s} is running at the end`)
})

const db = dbs.chaos
let rowsChecked = 0

t.test('every run, job and cell is terminal; the experiment succeeded', async (t) => {
  t.equal(chaosState, 'succeeded', `the experiment succeeded; see ${logFile}`)
  const cells = await db.selectFrom('experiment_cells').select(['key', 'state', 'error']).where('experiment_id', '=', chaosId).execute()
  t.equal(cells.length, 5)
  t.same(cells.filter((c) => c.state !== 'succeeded'), [], 'every cell succeeded')
  for (const table of ['generation_runs', 'training_jobs', 'eval_runs', 'experiments'] as const) {
    const rows = await db.selectFrom(table).select(['id', 'state', 'lease_owner']).execute()
    rowsChecked += rows.length
    t.same(rows.filter((r) => !TERMINAL.includes(r.state) || r.lease_owner !== null), [], `${table}: all terminal, no lease held`)
  }
  rowsChecked += cells.length
})

t.test('no resource created twice: one generation run, training job and eval run per cell', async (t) => {
  const cells = await db.selectFrom('experiment_cells').select(['kind', 'resource_id']).where('experiment_id', '=', chaosId).execute()
  const count = async (table: 'generation_runs' | 'training_jobs' | 'eval_runs' | 'adapters') => Number((await db.selectFrom(table).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow()).n)
  t.equal(await count('generation_runs'), cells.filter((c) => c.kind === 'generation').length)
  t.equal(await count('training_jobs'), cells.filter((c) => c.kind === 'training').length)
  t.equal(await count('eval_runs'), cells.filter((c) => c.kind === 'evaluation').length)
  t.equal(await count('adapters'), 1, 'one adapter from the one training job')
})

t.test('samples: none lost, none twice, the counters agree, the same as undisturbed', async (t) => {
  const stats = async (d: Kysely<Database>) => {
    const run = await d.selectFrom('generation_runs').selectAll().executeTakeFirstOrThrow()
    const s = await d.selectFrom('generation_samples').select([sql<number>`count(*)`.as('n'), sql<number>`count(distinct (item_id, sample_index))`.as('keys'), sql<number>`count(distinct item_id)`.as('items'), sql<number>`count(*) filter (where accepted)`.as('accepted')]).where('run_id', '=', run.id).executeTakeFirstOrThrow()
    return { run, n: Number(s.n), keys: Number(s.keys), items: Number(s.items), accepted: Number(s.accepted) }
  }
  const [calm, chaos] = [await stats(dbs.calm), await stats(db)]
  rowsChecked += chaos.n
  t.ok(calm.n > 0)
  t.equal(chaos.n, calm.n, `${chaos.n} sample rows, as undisturbed`)
  t.equal(chaos.keys, chaos.n, 'each (item, index) once')
  t.equal(chaos.items, 3, 'every news item')
  t.equal(chaos.run.samples_accepted + chaos.run.samples_rejected, chaos.n, 'the run’s counters count the rows')
  t.equal(chaos.run.samples_accepted, chaos.accepted)
  t.equal(chaos.run.progress_done, 3)
  t.equal(chaos.accepted, calm.accepted, 'as many accepted as undisturbed')
  // seeds are per (run seed, item, round, variant), so the resumed run generated the same text
  const texts = async (d: Kysely<Database>) => (await d.selectFrom('generation_samples').innerJoin('news_items', 'news_items.id', 'generation_samples.item_id').select(['news_items.key', 'sample_index', 'accepted', 'messages']).orderBy('news_items.key').orderBy('sample_index').execute())
  t.same(await texts(db), await texts(dbs.calm), 'the same samples, item by item')
})

t.test('results: each question once per eval run, the counters agree', async (t) => {
  const runs = await db.selectFrom('eval_runs').select(['id', 'mode', 'progress_done', 'progress_total']).execute()
  for (const r of runs) {
    const s = await db.selectFrom('eval_results').select([sql<number>`count(*)`.as('n'), sql<number>`count(distinct question_id)`.as('q')]).where('run_id', '=', r.id).executeTakeFirstOrThrow()
    rowsChecked += Number(s.n)
    t.same([Number(s.n), Number(s.q), r.progress_done, r.progress_total], [15, 15, 15, 15], `${r.mode}: 15 results for 15 questions`)
  }
})

t.test('no training job ran twice at once; the adapter is the last attempt’s', async (t) => {
  const job = await db.selectFrom('training_jobs').selectAll().executeTakeFirstOrThrow()
  const events = await db.selectFrom('training_job_events').select(['type', 'state', 'message', 'data']).where('job_id', '=', job.id).orderBy('id').execute()
  rowsChecked += events.length
  // replay the state events: a job is handed to a worker (dispatched) only when no attempt is live
  let live = false
  let dispatches = 0
  const overlaps: string[] = []
  for (const e of events.filter((e) => e.type === 'state')) {
    if (e.state === 'dispatched') {
      if (live) overlaps.push(e.message)
      live = true
      dispatches++
    } else if (e.state !== 'running') live = false
  }
  t.same(overlaps, [], 'every dispatch came after the previous attempt ended')
  t.ok(dispatches >= 1 && dispatches <= job.attempts, `${dispatches} dispatches, ${job.attempts} attempts counted`)
  const adapter = await db.selectFrom('adapters').select(['manifest', 'job_id']).where('id', '=', job.adapter_id!).executeTakeFirstOrThrow()
  t.equal((adapter.manifest as { training_id: string }).training_id, job.worker_training_id, 'the adapter comes from the attempt the job ended with')
  // the last attempt's loss points: one per step, none twice
  const steps = events.filter((e) => e.type === 'loss').map((e) => (e.data as { step: number; attempt?: number }).step)
  t.ok(steps.length > 0)
  t.comment(`training: ${job.attempts} attempt(s), ${dispatches} dispatch(es), ${steps.length} loss points; ${events.filter((e) => e.type !== 'loss' && e.type !== 'progress').map((e) => `${e.state ?? e.type}: ${e.message.slice(0, 90)}`).join(' | ')}`)
})

t.test('the result equals the undisturbed run’s', async (t) => {
  // Everything is seeded (generation per item, training, the option order): the per-cell accuracy
  // figures, overall and per question type, must be identical, and so must each question's answer.
  const chaosFigures = await figures(db, chaosId)
  t.same(chaosFigures, calmFigures, 'per-cell accuracy and n, overall and by type')
  const answers = async (d: Kysely<Database>) => (await d.selectFrom('eval_results').innerJoin('eval_runs', 'eval_runs.id', 'eval_results.run_id').innerJoin('questions', 'questions.id', 'eval_results.question_id').select(['eval_runs.mode', 'questions.key', 'eval_results.predicted_index', 'eval_results.correct']).orderBy('eval_runs.mode').orderBy('questions.key').execute())
  t.same(await answers(db), await answers(dbs.calm), 'each question answered the same')
})

t.test('figures', async (st) => {
  if (process.env.SYS2FT_CHAOS_DEBUG) for (const table of ['experiment_events', 'training_job_events', 'generation_run_events', 'eval_run_events'] as const) console.error('DEBUG', table, JSON.stringify((await db.selectFrom(table).select(['type', 'state', 'message', 'created_at']).orderBy('id').execute()).filter((e) => e.type !== 'loss' && e.type !== 'progress')))
  // what the restarted processes did: resumed runs, requeues after a restart, training takeovers
  const noted = async (table: 'generation_run_events' | 'eval_run_events' | 'experiment_events', like: string) =>
    Number((await db.selectFrom(table).select(sql<number>`count(*)`.as('n')).where('message', 'like', like).executeTakeFirstOrThrow()).n)
  st.comment(`recovery: generation ${await noted('generation_run_events', 'resuming%')} resumed, ${await noted('generation_run_events', 'requeued%')} requeued on restart; eval ${await noted('eval_run_events', 'resuming%')} resumed, ${await noted('eval_run_events', 'requeued%')} requeued; experiment ${await noted('experiment_events', 'requeued%')} requeued on restart, ${await noted('experiment_events', '%no attempt counted%')} waits for a service or the database`)
  st.comment(`chaos: seed ${seed}; ${injected.filter((l) => l.includes('kill -9')).length} faults injected; ${rowsChecked} rows checked; undisturbed ${calmSeconds.toFixed(1)} s, under chaos ${chaosSeconds.toFixed(1)} s; file ${((Date.now() - started) / 1000).toFixed(1)} s`)
  if (!t.passing()) st.comment(`the services' log (last 4000 characters):\n${readFileSync(logFile, 'utf8').slice(-4000)}`)
  st.pass('counts printed')
})
