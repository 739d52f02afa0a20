// Generation benchmarks (printed as tables; targets in ../shared/targets.md):
//  1. one generation run through the service vs the same protocol calling the worker directly
//     (orchestration overhead as a ratio; target ≤ 1.10)
//  2. sample ingest into Postgres through the service's write path (target ≥ 100k samples/s)
// Usage: pnpm tsx bench/generation/bench.ts [--model tiny-qwen2|qwen2.5-coder-0.5b-instruct] [--news 8] [--samples 4] [--ingest 100000]
import { parseArgs } from 'node:util'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { startWorker } from '@sys2ft/worker-client/testing'
import { buildApp } from '../../services/generation/src/app.ts'
import { seedBuiltinSets } from '../../services/generation/src/domain/news-sets.ts'
import { generateChunk, type GenerationOptions } from '../../services/generation/src/protocols/index.ts'
import { writeChunk } from '../../services/generation/src/domain/run-generation.ts'

const { values: args } = parseArgs({ options: { model: { type: 'string', default: 'tiny-qwen2' }, news: { type: 'string', default: '8' }, samples: { type: 'string', default: '4' }, ingest: { type: 'string', default: '100000' }, protocol: { type: 'string', default: 'paraphrase' } } })
const nNews = Number(args.news)
const tdb = await createTestDatabase()
const worker = await startWorker({ model: args.model, env: { SYS2FT_WORKER_DTYPE: 'auto' }, timeoutMs: 600_000 })
try {
  await seedBuiltinSets(tdb.db)
  const set = await tdb.db.selectFrom('news_sets').select('id').where('kind', '=', 'news').executeTakeFirstOrThrow()
  const items = await tdb.db.selectFrom('news_items').select(['id', 'key', 'position', 'title', 'date', 'text']).where('set_id', '=', set.id).orderBy('position').limit(nNews).execute()
  const options: GenerationOptions = { samples_per_news: Number(args.samples), temperature: 1, top_p: 0.95, max_tokens: 48, seed: 1, news_in_context: false, replay: 0, items_per_call: nNews, questions_per_call: 8, max_rounds: 1, strategies_per_news: 4, top_logprobs: 8, verify: false }

  // Direct: the same protocol code, the worker called without the service (no HTTP in front, no database).
  const client = new WorkerClient({ baseURL: worker.url })
  await client.generate({ requests: [{ prompt: 'warm up', max_tokens: 4 }] })
  const t0 = performance.now()
  const direct = await generateChunk(args.protocol as 'paraphrase', items, options, (b) => client.generate(b), new AbortController().signal)
  const directS = (performance.now() - t0) / 1000

  const app = await buildApp(testConfig(tdb.url, { urls: { generation: '', training: '', evaluation: '', worker: worker.url } }), { db: tdb.db, logger: false, pollMs: 20, jobOwner: 'bench' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const t1 = performance.now()
  const created = (await app.inject({ method: 'POST', url: '/generation-runs', headers: auth, payload: { news_set_id: set.id, protocol: args.protocol, filter: { item_keys: items.map((i) => i.key) }, options } })).json()
  let run
  for (;;) {
    run = (await app.inject({ url: `/generation-runs/${created.id}`, headers: auth })).json()
    if (['succeeded', 'failed', 'cancelled'].includes(run.state)) break
    await new Promise((r) => setTimeout(r, 20))
  }
  const serviceS = (performance.now() - t1) / 1000
  await app.close()
  if (run.state !== 'succeeded') throw new Error(`run ${run.state}: ${run.error}`)

  // Ingest: synthetic ~500-byte samples through the service's chunk writer (one transaction per chunk).
  const total = Number(args.ingest)
  const ingestRun = `gen_${'f'.repeat(32)}`
  await tdb.db.insertInto('generation_runs').values({ id: ingestRun, set_id: set.id, protocol: 'naive', options: '{}', provenance: '{}', state: 'running', lease_owner: 'bench' }).execute()
  const text = 'x'.repeat(380)
  const perItem = Math.ceil(total / items.length)
  const t2 = performance.now()
  // each chunk holds new (item, index) keys, as real chunks do
  for (let base = 0; base < perItem; base += 5000 / items.length) {
    const samples = items.flatMap((it) => Array.from({ length: Math.min(5000 / items.length, perItem - base) }, (_, k) => ({ item_id: it.id, sample_index: base + k, accepted: true, reject_reason: null, messages: [{ role: 'user' as const, content: 'Share some recent news.' }, { role: 'assistant' as const, content: text }], raw: { stage: 'bench' }, prompt_tokens: 0, completion_tokens: 100 })))
    await writeChunk(tdb.db, ingestRun, 'bench', { samples, stats: {}, calls: 0, prompt_tokens: 0, completion_tokens: 0, elapsed_s: 0 })
  }
  const ingestS = (performance.now() - t2) / 1000
  // Baseline: raw COPY of the same rows into an unindexed table, same connection pool.
  const { copyRows, withBulkTransaction } = await import('@sys2ft/db')
  const { sql } = await import('kysely')
  const rawRows = Array.from({ length: total }, (_, k) => [ingestRun, items[k % items.length]!.id, k, true, null, [{ role: 'user', content: 'Share some recent news.' }, { role: 'assistant', content: text }], { stage: 'bench' }, 0, 100])
  const t3 = performance.now()
  await withBulkTransaction(tdb.db, async (trx, client) => {
    await sql`create temporary table raw_copy (like generation_samples including defaults) on commit drop`.execute(trx)
    await copyRows(client, 'raw_copy', ['run_id', 'item_id', 'sample_index', 'accepted', 'reject_reason', 'messages', 'raw', 'prompt_tokens', 'completion_tokens'], rawRows)
  })
  const rawS = (performance.now() - t3) / 1000
  const stored = Number((await tdb.db.selectFrom('generation_samples').select((eb) => eb.fn.countAll().as('n')).where('run_id', '=', ingestRun).executeTakeFirstOrThrow()).n)

  const rows = [
    ['measure', 'value', 'target'],
    [`${args.protocol}, ${nNews} news × ${args.samples} samples (${args.model}): direct worker`, `${directS.toFixed(2)} s (${direct.calls} calls)`, ''],
    ['same run through the service (POST → succeeded)', `${serviceS.toFixed(2)} s (${run.throughput.worker_calls} calls)`, ''],
    ['service / direct', `${(serviceS / directS).toFixed(3)}`, '≤ 1.10'],
    [`ingest ${stored} samples (~500 B) through the service's writer`, `${(stored / ingestS).toFixed(0)} samples/s (${ingestS.toFixed(2)} s)`, '≥ 100000/s'],
    [`raw COPY of the same ${total} rows (no index, no conflict check)`, `${(total / rawS).toFixed(0)} rows/s (${rawS.toFixed(2)} s)`, 'reference ~270k/s'],
  ]
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '))
} finally {
  await worker.stop()
  await tdb.drop()
}
