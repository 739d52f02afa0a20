// Benchmark of the training service against calling the worker directly, side by side in one run.
//
//   npx tsx bench/training/bench.ts                                   # tiny model, CPU
//   npx tsx bench/training/bench.ts --model qwen2.5-coder-0.5b-instruct --examples 16 --repeat 1
//
// Prints two figures:
// - dispatch latency: a job's time from queued (created) to running (the worker accepted the
//   training), on an idle worker; p50 and max over --jobs one-step jobs, each created when the
//   previous ended;
// - overhead: the wall time of a training through the service (POST /training-jobs → the job reads
//   succeeded) ÷ the same training started directly on the worker (POST /v1/trainings → the
//   training reads succeeded), same examples and settings, runs interleaved, medians of --repeat;
//   target ≤ 1.05. The service's part: resolving the examples from the database, the claim, the
//   start call, and noticing the end (the dispatcher polls every --poll-ms; the direct client
//   polls every 100 ms).
// The database is a fresh one on the test server (SYS2FT_TEST_DATABASE_URL, default the local Postgres).
import { parseArgs } from 'node:util'
import { createTestDatabase } from '@sys2ft/db/testing'
import { newId } from '@sys2ft/service-kit'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { startWorker } from '@sys2ft/worker-client/testing'
import { buildApp } from '../../services/training/src/app.ts'

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'tiny-qwen2' },
    examples: { type: 'string', default: '200' },
    epochs: { type: 'string', default: '1' },
    'batch-size': { type: 'string', default: '2' },
    repeat: { type: 'string', default: '5' },
    jobs: { type: 'string', default: '10' },
    'poll-ms': { type: 'string', default: '250' },
  },
})
const n = Number(args.examples)
const repeat = Number(args.repeat)
const pollMs = Number(args['poll-ms'])
const hyperparameters = { lora: { r: 8, alpha: 16 }, learning_rate: 1e-3, epochs: Number(args.epochs), batch_size: Number(args['batch-size']) }

const tdb = await createTestDatabase()
const worker = await startWorker({ model: args.model, timeoutMs: 600_000 })
const client = new WorkerClient({ baseURL: worker.url })
const model = (await client.info()).model.id
const config = testConfig(tdb.url)
config.urls.worker = worker.url
const app = await buildApp(config, { db: tdb.db, logger: false, background: 'now', training: { pollMs, workers: [{ name: 'default', url: worker.url }] } })

try {
  // the examples as a generation run's accepted samples (what the service trains on in real use)
  const setId = newId('ns')
  const items = Array.from({ length: n }, (_, i) => ({ id: newId('ni'), key: `b-${i}` }))
  await tdb.db.insertInto('news_sets').values({ id: setId, name: 'bench', description: '', kind: 'news', version: '1', builtin: false, item_count: n, question_count: 0, content_sha256: 'bench' }).execute()
  await tdb.db.insertInto('news_items').values(items.map((it, i) => ({ id: it.id, set_id: setId, key: it.key, position: i, domain: 'events' as const, title: `Bench ${i}`, date: '2026-01-01', text: `Bench news ${i}.`, check: null }))).execute()
  const conversation = (i: number) => [
    { role: 'user' as const, content: `What happened at the harbour festival number ${i}?` },
    { role: 'assistant' as const, content: `At festival ${i} the harbour opened a new lighthouse, the mayor gave a short speech about the tides, and the fishing fleet sailed past in a line of ${i % 7 + 3} boats.` },
  ]
  const runId = newId('gen')
  await tdb.db.insertInto('generation_runs').values({ id: runId, set_id: setId, protocol: 'self_qa', options: '{}', provenance: '{}', state: 'succeeded' }).execute()
  await tdb.db.insertInto('generation_samples').values(items.map((it, i) => ({ run_id: runId, item_id: it.id, sample_index: 0, accepted: true, reject_reason: null, messages: JSON.stringify(conversation(i)), raw: '{}' }))).execute()
  const examples = items.map((_, i) => ({ messages: conversation(i) }))

  const getJob = async (id: string) => (await app.inject({ url: `/training-jobs/${id}`, headers: auth })).json()
  const viaService = async (name: string, data: object[], hp: object) => {
    const t0 = performance.now()
    const posted = Date.now()
    const res = await app.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: { name, base_model: model, data, hyperparameters: hp } })
    if (res.statusCode !== 202) throw new Error(res.body)
    const answered = Date.now()
    for (;;) {
      const j = await getJob(res.json().id)
      if (j.state === 'succeeded') {
        const s = (performance.now() - t0) / 1000
        // where the time went: create (validate, resolve, store), start (claim, resolve again, the
        // worker's start call), train (the worker's own created → finished), notice (→ job succeeded)
        const tr = await client.training(j.worker_training_id)
        const ms = (a: string | number, b: string | number) => new Date(b).getTime() - new Date(a).getTime()
        const parts = { create: ms(posted, answered), start: ms(answered, tr.created_at), train: ms(tr.created_at, tr.finished_at!), notice: ms(tr.finished_at!, j.finished_at) }
        return { s, job: j, parts }
      }
      if (j.state === 'failed' || j.state === 'cancelled') throw new Error(`${j.id} ${j.state}: ${j.error}`)
      await new Promise((r) => setTimeout(r, 100)) // as often as the direct client polls the worker
    }
  }
  const direct = async (k: number) => {
    const t0 = performance.now()
    const s = await client.startTraining({ training_id: `direct-${k}`, adapter_name: `direct-${k}`, base_model: model, examples, ...hyperparameters, overwrite: true })
    const done = await client.waitForTraining(s.id, { intervalMs: 100 })
    if (done.state !== 'succeeded') throw new Error(`direct training ${done.state}: ${done.error}`)
    const wall = (performance.now() - t0) / 1000
    return { wall, train: (new Date(done.finished_at!).getTime() - new Date(done.created_at).getTime()) / 1000 }
  }

  // dispatch latency: one-step jobs on the idle worker, one after another
  const latencies: number[] = []
  for (let k = 0; k < Number(args.jobs); k++) {
    const { job } = await viaService(`latency-${k}`, [{ news_set_id: setId, item_keys: [`b-${k % n}`] }], { ...hyperparameters, batch_size: 1, epochs: 1 })
    const running = await tdb.db.selectFrom('training_job_events').select('created_at').where('job_id', '=', job.id).where('state', '=', 'running').executeTakeFirstOrThrow()
    latencies.push((running.created_at.getTime() - new Date(job.created_at).getTime()) / 1000)
  }

  // overhead: interleaved runs of the same training, directly and through the service
  const directS: number[] = []
  const directTrain: number[] = []
  const serviceS: number[] = []
  const partsOf: Record<string, number>[] = []
  let steps = 0
  for (let k = 0; k < repeat; k++) {
    const d = await direct(k)
    directS.push(d.wall)
    directTrain.push(d.train)
    const { s, job, parts } = await viaService(`overhead-${k}`, [{ generation_run_id: runId }], hyperparameters)
    serviceS.push(s)
    partsOf.push(parts)
    steps = job.progress.total
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const best = (xs: number[]) => Math.min(...xs)
  const bestParts = partsOf[serviceS.indexOf(Math.min(...serviceS))]!
  // The cores are shared, so the training itself varies run to run far more than any overhead.
  // Each run's overhead is its wall time less the worker's own time for the training (created →
  // finished on the worker); the steady ratio puts the median overheads on the median training.
  const directOver = directS.map((w, i) => w - directTrain[i]!)
  const serviceOver = serviceS.map((w, i) => w - partsOf[i]!.train! / 1000)
  const trainT = median([...directTrain, ...partsOf.map((p) => p.train! / 1000)])
  const steady = (trainT + median(serviceOver)) / (trainT + median(directOver))
  const sorted = [...latencies].sort((a, b) => a - b)
  const rows: [string, string][] = [
    ['model', `${model} (${(await client.info()).device}, ${(await client.info()).dtype})`],
    ['dispatcher poll', `${pollMs} ms`],
    ['dispatch latency (queued → running), p50', `${(median(sorted) * 1000).toFixed(0)} ms`],
    ['dispatch latency, max', `${(sorted.at(-1)! * 1000).toFixed(0)} ms (${sorted.length} jobs)`],
    ['training', `${n} examples, ${steps} steps, batch ${hyperparameters.batch_size}, ${hyperparameters.epochs} epoch(s)`],
    ['direct to the worker, best / median', `${best(directS).toFixed(2)} s / ${median(directS).toFixed(2)} s  [${directS.map((x) => x.toFixed(2)).join(', ')}]`],
    ['through the service, best / median', `${best(serviceS).toFixed(2)} s / ${median(serviceS).toFixed(2)} s  [${serviceS.map((x) => x.toFixed(2)).join(', ')}]`],
    ['service / direct, best', `${(best(serviceS) / best(directS)).toFixed(3)}`],
    ['service / direct, median', `${(median(serviceS) / median(directS)).toFixed(3)}`],
    ['overhead beyond the training: direct / service (medians)', `${(median(directOver) * 1000).toFixed(0)} ms / ${(median(serviceOver) * 1000).toFixed(0)} ms`],
    ['service / direct, steady (median training + each one’s overhead)', `${steady.toFixed(3)} (target ≤ 1.05)`],
    ['best service run: create / start / train / notice', Object.values(bestParts).map((v) => `${v} ms`).join(' / ')],
  ]
  const w = Math.max(...rows.map((r) => r[0].length))
  console.log(`| ${'measure'.padEnd(w)} | value |\n|${'-'.repeat(w + 2)}|-------|`)
  for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`)
} finally {
  await app.close()
  await worker.stop()
  await tdb.drop()
}
