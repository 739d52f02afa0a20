// A training job end to end on the real worker (tiny model): created with mixed data, dispatched,
// followed to the end over the API and the SSE stream, its adapter registered and usable on the worker.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { startWorker } from '@sys2ft/worker-client/testing'
import { auth, generationRun, newsSet, tiny, trainingApp, until } from './helpers.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
const app = await trainingApp(tdb.url, tdb.db, worker.url)
t.teardown(() => app.close())
const client = new WorkerClient({ baseURL: worker.url })

const news = await newsSet(tdb.db, 6)
const runId = await generationRun(tdb.db, news, 3)

type Sse = { event: string; data: any }
const parseSse = (body: string): Sse[] =>
  body
    .split('\n\n')
    .filter((b) => b.includes('event: '))
    .map((b) => ({ event: /event: (.*)/.exec(b)![1]!, data: JSON.parse(/data: (.*)/.exec(b)![1]!) }))

t.test('a job runs end to end and registers an adapter the worker serves', async (t) => {
  const body = { name: 'e2e-adapter', base_model: 'tiny-qwen2', data: [{ generation_run_id: runId }, { news_set_id: news.setId, domains: ['mathematics', 'coding'] }], hyperparameters: { ...tiny, epochs: 2 }, seed: 7 }
  const res = await app.inject({ method: 'POST', url: '/training-jobs', headers: { ...auth, 'idempotency-key': 'e2e-1' }, payload: body })
  t.equal(res.statusCode, 202, res.body)
  const created = res.json()
  t.equal(res.headers.location, `/training-jobs/${created.id}`)
  t.match(created.id, /^job_[0-9a-f]{32}$/)
  t.match(created, { object: 'training_job', name: 'e2e-adapter', base_model: 'tiny-qwen2', seed: 7, attempts: 0, max_attempts: 3 })
  t.ok(['queued', 'dispatched', 'running'].includes(created.state), created.state)
  t.same(created.hyperparameters, { lora: { r: 4, alpha: 8, dropout: 0.05, target_modules: 'all-linear' }, learning_rate: 5e-3, lr_scheduler: 'cosine', warmup_ratio: 0.03, epochs: 2, batch_size: 4, gradient_accumulation_steps: 1, max_seq_len: 1024, loss_on: 'assistant', objective: 'sft', gradient_checkpointing: null, token_budget: null }, 'every default recorded on the job')
  // 18 accepted samples and 6 news items at equal weights: the news are repeated 3× to a 50% share
  t.same(created.data.resolved.map((r: any) => [r.kind, r.available, r.count, r.share]), [['generation_run', 18, 18, 0.5], ['news_set', 6, 18, 0.5]])
  t.equal(created.example_count, 36)
  t.match(created.data_sha256, /^[0-9a-f]{64}$/)

  const replay = await app.inject({ method: 'POST', url: '/training-jobs', headers: { ...auth, 'idempotency-key': 'e2e-1' }, payload: body })
  t.equal(replay.json().id, created.id, 'the same Idempotency-Key and body return the first job')
  t.equal(replay.headers['idempotent-replayed'], 'true')

  const stream = app.inject({ method: 'GET', url: `/training-jobs/${created.id}/stream`, headers: auth })
  const done = await until('the job to succeed', async () => {
    const j = (await app.inject({ url: `/training-jobs/${created.id}`, headers: auth })).json()
    return j.state === 'succeeded' || j.state === 'failed' ? j : null
  })
  t.equal(done.state, 'succeeded', done.error ?? '')
  t.equal(done.attempts, 1)
  t.equal(done.worker_training_id, `${created.id}-a1`)
  t.ok(done.progress.total > 0 && done.progress.done === done.progress.total, 'progress: every step done')
  t.equal(done.progress.epochs, 2)
  t.type(done.progress.loss, 'number')
  const c = done.compute
  t.ok(c.trainable_params > 0 && c.total_params > c.trainable_params, 'parameters counted')
  t.ok(c.tokens_trained > 0)
  t.equal(c.flops, 6 * c.total_params * c.tokens_trained, 'FLOPs = 6·N·D')
  t.ok(c.wall_s > 0 && c.train_s > 0)

  const sse = parseSse((await stream).body)
  t.equal(sse[0]!.event, 'snapshot')
  t.equal(sse.at(-1)!.event, 'end', 'the stream ends …')
  t.equal(sse.at(-1)!.data.state, 'succeeded', '… with the terminal state')
  t.ok(sse.some((e) => e.event === 'loss'), 'loss points are streamed')

  const events = (await app.inject({ url: `/training-jobs/${created.id}/events`, headers: auth })).json().data
  t.same(events.filter((e: any) => e.type === 'state').map((e: any) => e.state), ['queued', 'dispatched', 'running', 'succeeded'], 'every transition stored with its reason')
  const loss = (await app.inject({ url: `/training-jobs/${created.id}/events?type=loss`, headers: auth })).json().data
  t.same(loss.map((e: any) => e.data.step), Array.from({ length: done.progress.total }, (_, i) => i + 1), 'one loss point per step, each once')

  const adapter = (await app.inject({ url: `/adapters/${done.adapter_id}`, headers: auth })).json()
  t.match(adapter, { id: done.adapter_id, object: 'adapter', name: 'e2e-adapter', job_id: created.id, base_model: 'tiny-qwen2', location: { worker_url: worker.url, name: created.id }, hyperparameters: created.hyperparameters })
  t.equal(adapter.data_sha256, created.data_sha256, 'the worker hashed exactly the examples the job fixed')
  t.equal(adapter.manifest.examples, 36)
  t.equal(adapter.manifest.training_id, `${created.id}-a1`)
  t.equal(adapter.final_loss, adapter.manifest.final_loss)
  t.same(adapter.compute, c)

  const scored = await client.score({ items: [{ messages: [{ role: 'user', content: 'Q0: what does zorblat 1 do?' }], adapter: adapter.location.name, continuations: ['Zorblat 1 multiplies'] }] })
  const base = await client.score({ items: [{ messages: [{ role: 'user', content: 'Q0: what does zorblat 1 do?' }], continuations: ['Zorblat 1 multiplies'] }] })
  t.not(scored.results[0]!.scores[0]!.logprob, base.results[0]!.scores[0]!.logprob, 'the adapter changes the model')
  const gen = await client.generate({ requests: [{ messages: [{ role: 'user', content: 'hi' }], adapter: adapter.location.name, max_tokens: 4, temperature: 0 }] })
  t.equal(gen.results.length, 1, 'and generates with it')
})

t.test('lists: filters and cursor pagination; workers and adapters', async (t) => {
  const second = await app.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: { base_model: 'tiny-qwen2', data: [{ news_set_id: news.setId, item_keys: ['item-0', 'item-1'] }], hyperparameters: tiny } })
  t.equal(second.statusCode, 202, second.body)
  t.equal(second.json().name, second.json().id, 'the name defaults to the id')
  t.equal(second.json().example_count, 2)
  await until('the second job to end', async () => ['succeeded', 'failed'].includes((await app.inject({ url: `/training-jobs/${second.json().id}`, headers: auth })).json().state))

  const page1 = (await app.inject({ url: '/training-jobs?limit=1', headers: auth })).json()
  t.equal(page1.data.length, 1)
  t.equal(page1.has_more, true)
  const page2 = (await app.inject({ url: `/training-jobs?limit=1&after=${page1.next_cursor}`, headers: auth })).json()
  t.equal(page2.data.length, 1)
  t.not(page2.data[0].id, page1.data[0].id)
  t.equal(page2.has_more, false)
  const byName = (await app.inject({ url: '/training-jobs?name=e2e-adapter', headers: auth })).json()
  t.equal(byName.data.length, 1)
  t.equal((await app.inject({ url: '/training-jobs?state=queued', headers: auth })).json().data.length, 0)
  const badFilter = await app.inject({ url: '/training-jobs?state=sleeping', headers: auth })
  t.equal(badFilter.statusCode, 400)
  t.equal(badFilter.json().errors[0].path, '/querystring/state')

  const adapters = (await app.inject({ url: '/adapters?base_model=tiny-qwen2', headers: auth })).json()
  t.equal(adapters.data.length, 2)
  t.equal((await app.inject({ url: `/adapters?job_id=${second.json().id}`, headers: auth })).json().data.length, 1)
  t.equal((await app.inject({ url: '/adapters/ad_nope', headers: auth })).statusCode, 404)
  t.equal((await app.inject({ url: '/training-jobs/gen_0192', headers: auth })).statusCode, 404, 'a wrong-prefix id is a 404')

  const workers = (await app.inject({ url: '/workers', headers: auth })).json()
  t.match(workers.data, [{ name: 'default', source: 'config', status: 'up', model: 'tiny-qwen2', engine: 'hf', url: worker.url, current_job_id: null, has_api_key: false }])
  t.notOk('api_key' in workers.data[0], 'the key is never shown')
})

t.test('a job name is unique while it may still produce an adapter', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: { name: 'e2e-adapter', base_model: 'tiny-qwen2', data: [{ generation_run_id: runId }] } })
  t.equal(res.statusCode, 409)
  t.same(res.json().errors, [{ path: '/name', message: 'is taken' }])
})

t.test('cancelling a finished job is a conflict; an unknown one is 404', async (t) => {
  const [job] = (await app.inject({ url: '/training-jobs?state=succeeded&limit=1', headers: auth })).json().data
  const res = await app.inject({ method: 'DELETE', url: `/training-jobs/${job.id}`, headers: auth })
  t.equal(res.statusCode, 409)
  t.equal((await app.inject({ method: 'DELETE', url: '/training-jobs/job_00000000000000000000000000000000', headers: auth })).statusCode, 404)
})
