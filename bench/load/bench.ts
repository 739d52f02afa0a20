// Load benchmarks (issue 14, "Load"; figures measured in one run, printed as tables with their targets):
//  1. every read route of the three services (lists and gets, with auth) at a fixed rate (autocannon's
//     overallRate, default 200 req/s, ~10 s each): p50 / p99 / max latency, errors and non-2xx counts.
//     Target: p99 < 50 ms at 200 req/s, 0 errors.
//  2. uploads to POST /news-sets (JSONL) while a client polls another service's /healthz every ~10 ms:
//     a 100 MB body (refused by the 64 MB body limit), a valid 10,000-item set (the documented maximum,
//     MAX_SET_ITEMS) and 1M lines of `{}`; the worst /healthz latency during each.
//     Target: never beyond 100 ms.
// The stack runs as the product runs it (`./sys2ft stack`: startStack, the three services in ONE Node
// process) in a child process on a fresh test database; the load comes from this process.
// Not driven: the SSE streams, exports and GET /reports (bootstrap computation per request; bench/evaluation measures it).
// Usage: npx tsx bench/load/bench.ts [--rate 200] [--seconds 10] [--only <route substring>] [--no-reads] [--no-uploads]
import { fork } from 'node:child_process'
import { request } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import autocannon from 'autocannon'
import { DEFAULT_ANSWER_PREFIX, EVAL_TEMPLATE_VERSION, MAX_SET_ITEMS, loadBuiltin } from '@sys2ft/dataset'
import { newId } from '@sys2ft/service-kit'

const KEY = 'bench-load-key'
const auth = { authorization: `Bearer ${KEY}` }

// ---- child: the stack, as `./sys2ft stack` starts it; reports its own event-loop delay on request ----
if (process.argv.includes('--serve')) {
  const { startStack } = await import('../../scripts/lib/stack.ts')
  const stack = await startStack({ logLevel: 'error', say: () => {} })
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'reset') delay.reset()
    if (m.cmd === 'reset' || m.cmd === 'delay') process.send!({ maxMs: delay.max / 1e6 })
    if (m.cmd === 'stop') void stack.stop().then(() => process.exit(0))
  })
  process.send!({ ready: stack.urls })
  await new Promise(() => {})
}

const { values: args } = parseArgs({ options: { rate: { type: 'string', default: '200' }, seconds: { type: 'string', default: '10' }, only: { type: 'string' }, 'no-reads': { type: 'boolean', default: false }, 'no-uploads': { type: 'boolean', default: false } } })
const rate = Number(args.rate)
const seconds = Number(args.seconds)

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number }
    s.close(() => resolve(port))
  })
})

const { createTestDatabase } = await import('@sys2ft/db/testing')
const tdb = await createTestDatabase()
const dataDir = mkdtempSync(path.join(tmpdir(), 'sys2ft-load-'))
const [gp, tp, ep, wp] = [await freePort(), await freePort(), await freePort(), await freePort()]
const env = {
  ...process.env, DATABASE_URL: tdb.url, SYS2FT_API_KEYS: KEY, SYS2FT_SERVICE_KEY: 'bench-load-service', SYS2FT_DATA_DIR: dataDir, SYS2FT_DEV_INSECURE: '0',
  SYS2FT_GENERATION_PORT: String(gp), SYS2FT_TRAINING_PORT: String(tp), SYS2FT_EVALUATION_PORT: String(ep),
  SYS2FT_GENERATION_URL: `http://127.0.0.1:${gp}`, SYS2FT_TRAINING_URL: `http://127.0.0.1:${tp}`, SYS2FT_EVALUATION_URL: `http://127.0.0.1:${ep}`,
  // no worker answers here: runs queued by the services would wait; the bench's rows are all finished
  SYS2FT_WORKER_URL: `http://127.0.0.1:${wp}`,
}
const child = fork(import.meta.filename, ['--serve'], { env, execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
const ask = <T>(cmd: string) => new Promise<T>((resolve) => {
  child.once('message', (m) => resolve(m as T))
  child.send({ cmd })
})
const urls = await new Promise<{ generation: string; training: string; evaluation: string }>((resolve, reject) => {
  child.once('message', (m) => resolve((m as { ready: { generation: string; training: string; evaluation: string } }).ready))
  child.once('exit', (code) => reject(new Error(`the stack exited (${code})`)))
})

try {
  // ---- seed: pages of finished runs, jobs, experiments, workers and adapters (the news sets are seeded by the stack) ----
  const db = tdb.db
  const newsSet = await db.selectFrom('news_sets').selectAll().where('kind', '=', 'news').where('builtin', '=', true).executeTakeFirstOrThrow()
  const questions = await db.selectFrom('questions').select(['id', 'type']).where('set_id', '=', newsSet.id).orderBy('position').limit(200).execute()
  const done = { state: 'succeeded' as const, progress_done: 1, progress_total: 1, attempts: 1, started_at: new Date(Date.now() - 60_000), finished_at: new Date() }
  const N = 60
  const genRuns = Array.from({ length: N }, () => newId('gen'))
  await db.insertInto('generation_runs').values(genRuns.map((id) => ({
    id, set_id: newsSet.id, protocol: 'self_qa', ...done,
    options: JSON.stringify({ samples_per_news: 4, temperature: 1, top_p: 0.95, max_tokens: 256, seed: 0, news_in_context: true, replay: 0, items_per_call: 8, questions_per_call: 8, max_rounds: 3, model: 'tiny-qwen2' }),
    provenance: JSON.stringify({ bench: true }), samples_requested: 4, samples_accepted: 4,
  }))).execute()
  const workers = Array.from({ length: 5 }, () => newId('wk'))
  await db.insertInto('workers').values(workers.map((id, i) => ({ id, name: `bench-${i}`, url: `http://127.0.0.1:${wp}`, source: 'api' as const, status: 'down' as const, model: 'tiny-qwen2', engine: 'hf' }))).execute()
  const hyperparameters = { lora: { r: 16, alpha: 32, dropout: 0.05, target_modules: ['q_proj', 'v_proj'] }, learning_rate: 1e-4, lr_scheduler: 'cosine', warmup_ratio: 0.03, epochs: 2, batch_size: 4, gradient_accumulation_steps: 1, max_seq_len: 1024, loss_on: 'assistant', gradient_checkpointing: null }
  const jobs = Array.from({ length: N }, () => newId('job'))
  await db.insertInto('training_jobs').values(jobs.map((id, i) => ({
    id, name: `bench-job-${i}`, base_model: 'tiny-qwen2', ...done, seed: 0, example_count: 100, data_sha256: '0'.repeat(64),
    data: JSON.stringify({ sources: [{ news_set_id: newsSet.id, weight: 1 }], resolved: [{ source: 0, kind: 'news_set', id: newsSet.id, available: 100, weight: 1, share: 1, count: 100 }], mixing: 'bench' }),
    settings: JSON.stringify(hyperparameters),
  }))).execute()
  const adapters = jobs.slice(0, 20).map(() => newId('ad'))
  await db.insertInto('adapters').values(adapters.map((id, i) => ({
    id, name: `bench-job-${i}`, job_id: jobs[i]!, base_model: 'tiny-qwen2', worker_id: workers[0]!, data_sha256: '0'.repeat(64),
    location: JSON.stringify({ worker_id: workers[0]!, worker_url: `http://127.0.0.1:${wp}`, name: `bench-job-${i}` }),
    hyperparameters: JSON.stringify(hyperparameters), final_loss: 1.5, compute: JSON.stringify({ flops: 1e12, tokens: 1000 }), manifest: JSON.stringify({ bench: true }),
  }))).execute()
  const evalRuns = Array.from({ length: N }, () => newId('ev'))
  const evalOptions = { seed: 0, shuffle: true, questions_per_call: 32, template_version: EVAL_TEMPLATE_VERSION, answer_prefix: DEFAULT_ANSWER_PREFIX }
  await db.insertInto('eval_runs').values(evalRuns.map((id) => ({
    id, model: 'tiny-qwen2', adapter_id: null, set_id: newsSet.id, mode: 'icl' as const, scoring: 'loglik' as const, ...done, progress_done: questions.length, progress_total: questions.length,
    options: JSON.stringify(evalOptions), provenance: JSON.stringify({ bench: true }), summary: null,
  }))).execute()
  await db.insertInto('eval_results').values(questions.map((q, i) => ({
    run_id: evalRuns[0]!, question_id: q.id, domain: 'events', type: q.type, option_order: JSON.stringify([0, 1, 2, 3]), prompt: JSON.stringify({ bench: true }),
    scores: JSON.stringify({ option_norm: [-1, -2, -3, -4] }), raw_answer: null, predicted_index: i % 4, parsed: true, correct: i % 4 === 0,
  }))).execute()
  for (const [table, key, ids] of [['generation_run_events', 'run_id', genRuns], ['training_job_events', 'job_id', jobs], ['eval_run_events', 'run_id', evalRuns]] as const) {
    await db.insertInto(table).values(ids.flatMap((id) => ['queued', 'running', 'succeeded'].map((state) => ({ [key]: id, type: 'state', state, message: state, data: null }) as never))).execute()
  }
  const experiments = Array.from({ length: 20 }, () => newId('exp'))
  await db.insertInto('experiments').values(experiments.map((id, i) => ({ id, name: `bench-exp-${i}`, preset: null, ...done, spec: JSON.stringify({ bench: true }), results: null }))).execute()
  await db.insertInto('experiment_cells').values(experiments.flatMap((id) => [0, 1, 2].map((position) => ({
    experiment_id: id, key: `cell-${position}`, position, kind: 'evaluation' as const, spec: JSON.stringify({ bench: true }), state: 'succeeded' as const, resource_id: evalRuns[position]!,
  })))).execute()

  // ---- 1. read routes at a fixed rate ----
  const routes: [service: keyof typeof urls, path: string][] = [
    ['generation', '/news-sets'], ['generation', `/news-sets/${newsSet.id}`], ['generation', `/news-sets/${newsSet.id}/items?limit=20`],
    ['generation', '/generation-runs'], ['generation', `/generation-runs/${genRuns[0]}`], ['generation', `/generation-runs/${genRuns[0]}/events`],
    ['training', '/training-jobs'], ['training', `/training-jobs/${jobs[0]}`], ['training', `/training-jobs/${jobs[0]}/events`],
    ['training', '/workers'], ['training', `/workers/${workers[0]}`], ['training', '/adapters'], ['training', `/adapters/${adapters[0]}`],
    ['evaluation', '/eval-runs'], ['evaluation', `/eval-runs/${evalRuns[0]}`], ['evaluation', `/eval-runs/${evalRuns[0]}/results`], ['evaluation', `/eval-runs/${evalRuns[0]}/events`],
    ['evaluation', '/experiments'], ['evaluation', `/experiments/${experiments[0]}`],
  ]
  const table: string[][] = [['route', 'p50 ms', 'p99 ms', 'max ms', 'req', 'errors', 'non-2xx', `p99 < 50 ms, 0 errors @ ${rate}/s`]]
  const short = (p: string) => p.replace(/(ns|gen|job|wk|ad|ev|exp)_[0-9a-z]+/g, '$1_…')
  if (!args['no-reads']) {
    for (const [service, p] of routes) {
      if (args.only && !p.includes(args.only)) continue
      const probe = await fetch(`${urls[service]}${p}`, { headers: auth })
      if (!probe.ok) console.error(`${service} ${p}: ${probe.status} ${(await probe.text()).slice(0, 300)}`)
      const r = await autocannon({ url: `${urls[service]}${p}`, headers: auth, connections: 10, overallRate: rate, duration: seconds })
      const errors = r.errors + r.timeouts
      const pass = r.latency.p99 < 50 && errors === 0 && r.non2xx === 0
      table.push([`${service} GET ${short(p)}`, r.latency.p50.toFixed(1), r.latency.p99.toFixed(1), r.latency.max.toFixed(1), String(r.requests.total), String(errors), String(r.non2xx), pass ? 'pass' : 'MISS'])
    }
    print(table)
  }

  // ---- 2. uploads beside another service's /healthz ----
  if (!args['no-uploads']) {
    const builtin = loadBuiltin()
    const lines: string[] = []
    for (let i = 0; i < MAX_SET_ITEMS; i++) {
      const src = builtin.news[i % builtin.news.length]!
      const id = `${src.id}-load${i}`
      lines.push(JSON.stringify({ ...src, id, questions: src.questions.map((q, j) => ({ ...q, id: `${id}-q${j + 1}` })) }))
    }
    const valid = Buffer.from(`${lines.join('\n')}\n`)
    const big = Buffer.alloc(100 * 1024 * 1024)
    for (let at = 0; at < big.length; at += valid.length) valid.copy(big, at, 0, Math.min(valid.length, big.length - at))
    const uploads: [string, Buffer][] = [
      [`100 MB JSONL (${(big.length / 2 ** 20).toFixed(0)} MiB, over the 64 MB limit)`, big],
      [`valid ${MAX_SET_ITEMS}-item set (${(valid.length / 2 ** 20).toFixed(1)} MiB)`, valid],
      ['1,000,000 lines of {} (2.9 MiB)', Buffer.from('{}\n'.repeat(1_000_000))],
    ]
    const rows = [['upload to generation POST /news-sets', 'status', 'upload ms', 'training /healthz worst ms (polls, failed)', 'stack event loop max ms', 'worst ≤ 100 ms']]
    for (const [name, body] of uploads) {
      let worst = 0
      let polls = 0
      let failed = 0
      let stop = false
      const poller = (async () => {
        while (!stop) {
          const t0 = performance.now()
          const ok = await fetch(`${urls.training}/healthz`).then(async (r) => (await r.arrayBuffer(), r.ok), () => false)
          worst = Math.max(worst, performance.now() - t0)
          polls += 1
          if (!ok) failed += 1
          await new Promise((r) => setTimeout(r, 10))
        }
      })()
      await new Promise((r) => setTimeout(r, 200)) // the poller's own first request (a new connection) is not the upload's
      worst = 0
      await ask('reset')
      const t0 = performance.now()
      const status = await post(`${urls.generation}/news-sets?name=load-${newId('x').slice(-8)}`, body)
      const ms = performance.now() - t0
      await new Promise((r) => setTimeout(r, 100))
      stop = true
      await poller
      const { maxMs } = await ask<{ maxMs: number }>('delay')
      rows.push([name, String(status), ms.toFixed(0), `${worst.toFixed(1)} (${polls}, ${failed})`, maxMs.toFixed(0), worst <= 100 && failed === 0 ? 'pass' : 'MISS'])
    }
    print(rows)
  }
} finally {
  child.send({ cmd: 'stop' })
  await new Promise((r) => child.once('exit', r))
  await tdb.drop()
  rmSync(dataDir, { recursive: true, force: true })
}

/** POSTs a JSONL body and resolves with the status as soon as the answer is in (a 413 comes while the body is still being sent). */
function post(url: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-ndjson', 'content-length': body.length } }, (res) => {
      res.resume()
      res.once('end', () => {
        resolve(res.statusCode!)
        req.destroy()
      })
    })
    req.on('error', reject) // after the answer, the server closing on the rest of the body is no error
    req.end(body)
  })
}

function print(rows: string[][]) {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '))
  console.log()
}
