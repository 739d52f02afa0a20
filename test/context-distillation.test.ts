// Context distillation end to end on the real tiny worker: a generation run keeps the teacher's top-k
// targets with each accepted sample (in the database and the export), a training job with objective
// distill sends them to the worker, which trains the KL loss and hashes exactly the job's examples
// (floats and all). The tiny random model writes no numbered questions and rarely ends an answer, so
// a proxy in front of the worker scripts the question stage and marks answers finished; the answers'
// text, token ids and log-probabilities are the real worker's.
import t from 'tap'
import { createServer, request, type Server } from 'node:http'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { startWorker } from '@sys2ft/worker-client/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { seedBuiltinSets } from '../services/generation/src/domain/news-sets.ts'

const K = 4
const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
await seedBuiltinSets(tdb.db)
const setId = (await tdb.db.selectFrom('news_sets').select('id').where('kind', '=', 'news').where('builtin', '=', true).executeTakeFirstOrThrow()).id

type Gen = { requests: { messages?: { content: string }[]; top_logprobs?: number }[] }
type GenOut = { results: { completions: { text: string; finish_reason: string }[] }[] }
/** Question-stage completions become numbered questions; answers asked with top_logprobs count as finished. */
function script(body: Gen, out: GenOut): GenOut {
  out.results.forEach((r, i) => {
    const req = body.requests[i]!
    r.completions.forEach((c, j) => {
      if (req.messages?.at(-1)?.content.includes('different questions')) c.text = `1. What changed in case ${i}.${j} first?\n2. What follows in case ${i}.${j} next?`
      else if (req.top_logprobs) c.finish_reason = 'stop'
    })
  })
  return out
}
const server: Server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    const up = request(`${worker.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      const parts: Buffer[] = []
      r.on('data', (c: Buffer) => parts.push(c))
      r.on('end', () => {
        let out = Buffer.concat(parts)
        if (req.url === '/v1/generate' && r.statusCode === 200) out = Buffer.from(JSON.stringify(script(JSON.parse(body.toString()), JSON.parse(out.toString()))))
        res.writeHead(r.statusCode ?? 502, { ...r.headers, 'content-length': String(out.length) }).end(out)
      })
    })
    up.on('error', () => res.writeHead(502).end())
    up.end(body)
  })
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))

const genConfig = testConfig(tdb.url, { urls: { worker: `http://127.0.0.1:${(server.address() as { port: number }).port}` } })
const gen = await generation(genConfig, { db: tdb.db, logger: false, jobOwner: 'cd-gen', pollMs: 50 })
await gen.listen({ host: '127.0.0.1', port: 0 })
t.teardown(() => gen.close())
const trainConfig = testConfig(tdb.url)
trainConfig.urls.worker = worker.url
const train = await training(trainConfig, { db: tdb.db, logger: false, background: 'now', training: { pollMs: 50, leaseMs: 5_000, healthMs: 500, workers: [{ name: 'default', url: worker.url }] } })
t.teardown(() => train.close())

async function until<T>(what: () => Promise<T>, done: (v: T) => boolean, ms = 180_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await what()
    if (done(v)) return v
    if (Date.now() > end) throw new Error(`timed out: ${JSON.stringify(v).slice(0, 400)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
const terminal = (s: { state: string }) => ['succeeded', 'failed', 'cancelled'].includes(s.state)

t.test('a context_distillation run keeps the teacher’s targets; a distill job trains on them', async (t) => {
  const created = await gen.inject({ method: 'POST', url: '/generation-runs', headers: auth, payload: { news_set_id: setId, protocol: 'context_distillation', filter: { item_keys: ['mathematics-001', 'coding-001'] }, options: { samples_per_news: 2, max_tokens: 16, top_logprobs: K, seed: 5, max_rounds: 1 } } })
  t.equal(created.statusCode, 202, created.body)
  const run = await until(async () => (await gen.inject({ url: `/generation-runs/${created.json().id}`, headers: auth })).json(), terminal)
  t.equal(run.state, 'succeeded', run.error ?? '')
  t.match(run.provenance, { protocol: 'context_distillation', options: { top_logprobs: K }, template_version: /^sys2ft-context-distillation-/ })
  const rows = await tdb.db.selectFrom('generation_samples').selectAll().where('run_id', '=', run.id).execute()
  const accepted = rows.filter((r) => r.accepted)
  t.ok(accepted.length >= 2, `accepted samples (${accepted.length}; ${JSON.stringify(run.samples.rejected_by_reason)})`)
  for (const r of accepted) {
    const d = r.distill!
    t.ok(d.k === K && d.token_ids.length > 0 && d.top.length === d.token_ids.length && d.top.every((top) => top.length === K), 'one top-k list per teacher token')
    t.equal(r.messages!.length, 2, 'the question alone → the teacher’s answer')
  }
  t.ok(rows.filter((r) => !r.accepted).every((r) => r.distill === null), 'rejected samples keep no targets')
  const exported = (await gen.inject({ url: `/generation-runs/${run.id}/export`, headers: auth })).body.trim().split('\n').map((l) => JSON.parse(l))
  const ids = (xs: number[][]) => xs.map((x) => x.join(',')).sort()
  t.same(ids(exported.map((e) => e.distill.token_ids)), ids(accepted.map((r) => r.distill!.token_ids)), 'the export carries each accepted sample with its targets')

  const none = await train.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: { base_model: 'tiny-qwen2', data: [{ news_set_id: setId, item_keys: ['mathematics-001'] }], hyperparameters: { objective: 'distill' } } })
  t.equal(none.statusCode, 400)
  t.same(none.json().errors.map((e: { path: string }) => e.path), ['/hyperparameters/objective'], 'distill without targets names the objective')

  const job = await train.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: { base_model: 'tiny-qwen2', data: [{ generation_run_id: run.id }], hyperparameters: { objective: 'distill', lora: { r: 4, alpha: 8 }, learning_rate: 5e-3, batch_size: 4, epochs: 2 } } })
  t.equal(job.statusCode, 202, job.body)
  t.equal(job.json().hyperparameters.objective, 'distill')
  t.same(job.json().data.resolved.map((r: { count: number; distill_targets: number }) => [r.count, r.distill_targets]), [[accepted.length, accepted.length]], 'every example carries its targets')
  const done = await until(async () => (await train.inject({ url: `/training-jobs/${job.json().id}`, headers: auth })).json(), terminal)
  t.equal(done.state, 'succeeded', done.error ?? '')
  const adapter = (await train.inject({ url: `/adapters/${done.adapter_id}`, headers: auth })).json()
  t.equal(adapter.data_sha256, done.data_sha256, 'the worker hashed the job’s examples, targets and floats included')
  t.match(adapter.manifest.hyperparameters, { objective: 'distill', distill_k: K })
  t.type(done.progress.loss, 'number')
})
