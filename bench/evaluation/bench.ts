// Evaluation service vs the worker called directly with the same batches (target: ≤ 1.10× wall time),
// and the service's scoring (the worker's shared-prefix path) vs the first path, where each of a
// question's continuations re-reads the whole prompt (`strategy: per_sequence`; target ≥ 3× questions/s).
//
//   npx tsx bench/evaluation/bench.ts [--items N] [--rounds R] [--mode base|icl] [--model tiny-qwen2]
//
// Starts the real worker and the service on a fresh database (the local Postgres), seeds N shipped news
// items per domain, then alternates: one evaluation run through the service (POST → succeeded: claim,
// prompts, batched /v1/score calls, result inserts, progress, the bootstrap summary), and the very same
// /v1/score request bodies (read back from the stored results, chunk by chunk) sent straight to the worker.
// On a shared, busy machine the two medians swing with other load; the run's own split (time in worker
// calls, from its progress events, vs everything else) is the noise-free view of the same overhead.
import { parseArgs } from 'node:util'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth } from '@sys2ft/service-kit/testing'
import { WorkerClient, type ScoreRequest } from '@sys2ft/worker-client'
import { startWorker } from '@sys2ft/worker-client/testing'
import { seedNewsSet, someNews, startService } from '../../services/evaluation/test/fixtures.ts'

const { values: args } = parseArgs({ options: { items: { type: 'string', default: '4' }, rounds: { type: 'string', default: '5' }, mode: { type: 'string', default: 'base' }, model: { type: 'string', default: 'tiny-qwen2' }, 'per-call': { type: 'string', default: '32' } } })
const rounds = Number(args.rounds)
const perCall = Number(args['per-call'])

const tdb = await createTestDatabase()
const worker = await startWorker({ model: args.model, timeoutMs: 600_000 })
const direct = new WorkerClient({ baseURL: worker.url })
const info = await direct.info()
const items = someNews(Number(args.items))
const setId = await seedNewsSet(tdb.db, items)
const { app } = await startService(tdb.db, tdb.url, worker.url, { pollMs: 200 })

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Time the run spent waiting for the worker (from its progress events). */
async function workerMs(runId: string): Promise<number> {
  const events = await tdb.db.selectFrom('eval_run_events').select('data').where('run_id', '=', runId).where('type', '=', 'progress').execute()
  return events.reduce((s, e) => s + ((e.data as { worker_ms?: number }).worker_ms ?? 0), 0)
}

async function serviceRun(seed: number): Promise<{ ms: number; id: string; overheadMs: number }> {
  const started = performance.now()
  const res = await app.inject({ method: 'POST', url: '/eval-runs', headers: auth, payload: { model: info.model.id, set_id: setId, mode: args.mode, options: { seed, questions_per_call: perCall } } })
  if (res.statusCode !== 202) throw new Error(res.body)
  const id = res.json().id as string
  for (;;) {
    const r = await tdb.db.selectFrom('eval_runs').select(['state', 'error']).where('id', '=', id).executeTakeFirstOrThrow()
    if (r.state === 'failed') throw new Error(`run failed: ${r.error}`)
    if (r.state === 'succeeded') break
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const ms = performance.now() - started
  return { ms, id, overheadMs: ms - (await workerMs(id)) }
}

/** The run's /v1/score bodies: its questions in the set's order, chunked as the run chunked them. */
async function batchesOf(runId: string): Promise<ScoreRequest[]> {
  const rows = await tdb.db
    .selectFrom('eval_results as r')
    .innerJoin('questions as q', 'q.id', 'r.question_id')
    .innerJoin('news_items as i', 'i.id', 'q.item_id')
    .select(['r.prompt'])
    .where('r.run_id', '=', runId)
    .orderBy('i.position')
    .orderBy('q.position')
    .execute()
  const items = rows.map((r) => {
    const p = r.prompt as { messages: ScoreRequest['items'][number]['messages']; prefix?: string | null; continuations: string[] }
    return { messages: p.messages!, prefix: p.prefix ?? null, continuations: p.continuations }
  })
  const out: ScoreRequest[] = []
  for (let i = 0; i < items.length; i += perCall) out.push({ model: info.model.id, items: items.slice(i, i + perCall) } as ScoreRequest)
  return out
}

async function directRun(batches: ScoreRequest[]): Promise<number> {
  const started = performance.now()
  for (const b of batches) await direct.score(b)
  return performance.now() - started
}

// warm-up: the first forward passes of a fresh worker are slower
const warm = await serviceRun(0)
const batches = await batchesOf(warm.id)
await directRun(batches)

const svc: number[] = []
const raw: number[] = []
const overhead: number[] = []
const own: number[] = []
for (let r = 0; r < rounds; r++) {
  // alternate which goes first: these machines are noisy
  const service = async () => {
    const run = await serviceRun(0)
    svc.push(run.ms)
    overhead.push(run.overheadMs)
    own.push(run.ms / (run.ms - run.overheadMs))
  }
  if (r % 2 === 0) {
    await service()
    raw.push(await directRun(batches))
  } else {
    raw.push(await directRun(batches))
    await service()
  }
}

// the first scoring path on the very same bodies, between two service runs so both see similar load
const perSequence: number[] = []
const shared: number[] = []
for (let r = 0; r < Math.min(rounds, 2); r++) {
  perSequence.push(await directRun(batches.map((b) => ({ ...b, strategy: 'per_sequence' as const }))))
  shared.push(await directRun(batches))
}

const questions = batches.reduce((s, b) => s + b.items.length, 0)
const ratio = median(svc) / median(raw)
// adjacent runs share the machine's load best: the ratio of each round's pair
const paired = svc.map((x, i) => x / raw[i]!)
console.log(`\nevaluation service vs worker /v1/score direct — model ${info.model.id} (${info.device}, ${info.dtype}), mode ${args.mode}, ${questions} questions × ${batches[0]!.items[0]!.continuations.length} continuations, ${batches.length} calls of ≤ ${perCall} questions, ${rounds} rounds`)
console.log('| measure | value |')
console.log('|---|---|')
console.log(`| service: POST → succeeded (median) | ${(median(svc) / 1000).toFixed(2)} s |`)
console.log(`| worker direct, same batches (median) | ${(median(raw) / 1000).toFixed(2)} s |`)
console.log(`| service / direct | ${ratio.toFixed(3)} (target ≤ 1.10) |`)
console.log(`| service / direct, per round (median of ${rounds}) | ${median(paired).toFixed(3)} |`)
console.log(`| service / its own worker-call time (median; noise-free: both in one run) | ${median(own).toFixed(3)} |`)
console.log(`| service time outside worker calls (median) | ${median(overhead).toFixed(0)} ms = ${((median(overhead) / median(svc)) * 100).toFixed(1)}% of the run |`)
console.log(`| service rounds | ${svc.map((x) => (x / 1000).toFixed(2)).join(', ')} s |`)
console.log(`| direct rounds | ${raw.map((x) => (x / 1000).toFixed(2)).join(', ')} s |`)
console.log(`| questions/s through the service | ${(questions / (median(svc) / 1000)).toFixed(2)} |`)
console.log(`| worker direct, per_sequence (the first path): questions/s | ${(questions / (median(perSequence) / 1000)).toFixed(2)} |`)
console.log(`| worker direct, shared_prefix (the service's path): questions/s | ${(questions / (median(shared) / 1000)).toFixed(2)} |`)
console.log(`| shared_prefix / per_sequence, questions/s | ${(median(perSequence) / median(shared)).toFixed(2)}× (target ≥ 3×) |`)

await app.close()
await worker.stop()
await tdb.drop()
