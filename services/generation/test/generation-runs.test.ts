// Generation runs against the real worker (tiny random Qwen2 on CPU) and a real Postgres.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { freePort, startWorker } from '@sys2ft/worker-client/testing'
import { buildApp } from '../src/app.ts'
import { PROTOCOLS, REGISTRY } from '../src/protocols/index.ts'
import { countingProxy } from './helpers/counting-proxy.ts'
import { newsSetId, until } from './helpers/fixtures.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
const proxy = await countingProxy(worker.url)
t.teardown(() => proxy.close())
const setId = await newsSetId(tdb.db)

const config = testConfig(tdb.url, { urls: { generation: 'http://127.0.0.1:1', training: 'http://127.0.0.1:1', evaluation: 'http://127.0.0.1:1', worker: proxy.url } })
/** Builds the service and listens (the job runner starts when the service listens). */
async function service(owner: string, cfg = config, runner: { unavailableGraceMs?: number } = {}) {
  const a = await buildApp(cfg, { db: tdb.db, logger: false, jobOwner: owner, pollMs: 50, retryDelayMs: 50, ...runner })
  await a.listen({ host: '127.0.0.1', port: 0 })
  return a
}
const app = await service('gen-test-a')
t.teardown(() => app.close())

const small = { max_tokens: 24, temperature: 1, items_per_call: 8 }
const twoNews = { item_keys: ['mathematics-001', 'coding-001'] }

async function create(body: Record<string, unknown>, a = app) {
  const res = await a.inject({ method: 'POST', url: '/generation-runs', headers: auth, payload: { news_set_id: setId, filter: twoNews, ...body } })
  if (res.statusCode !== 202) throw new Error(`create: ${res.statusCode} ${res.body}`)
  return res.json()
}
const get = async (id: string, a = app) => (await a.inject({ url: `/generation-runs/${id}`, headers: auth })).json()
const finished = (id: string, a = app) => until(() => get(id, a), (r) => ['succeeded', 'failed', 'cancelled'].includes(r.state), 120_000)
const rows = (runId: string) => tdb.db.selectFrom('generation_samples').selectAll().where('run_id', '=', runId).execute()

t.test('every protocol end to end on two news items: counts and provenance', async (t) => {
  // every registered protocol, so a new one runs end to end on the tiny model without a test edit
  const maxCalls: Record<string, number> = { self_qa: 4, context_distillation: 4, active_reading: 3, entigraph: 3 }
  for (const protocol of PROTOCOLS) {
    // replay 1: a copy of the news per item, so even the tiny random model's run (whose self-play
    // output the parsers reject) must end with accepted samples for every item
    const created = await create({ protocol, options: { ...small, samples_per_news: 3, seed: 11, replay: 1 } })
    t.match(created, { state: 'queued', protocol, progress: { done: 0, total: 2 }, samples: { requested: 6 } })
    const run = await finished(created.id)
    t.equal(run.state, 'succeeded', `${protocol}: ${run.error ?? ''}`)
    t.same(run.progress, { done: 2, total: 2, unit: 'news' })
    const stored = await rows(run.id)
    const acc = stored.filter((r) => r.accepted)
    t.equal(run.samples.accepted, acc.length, `${protocol}: accepted counter = stored accepted rows`)
    t.equal(run.samples.rejected, stored.length - acc.length, `${protocol}: rejected counter = stored rejected rows`)
    const generated = acc.filter((r) => (r.raw as { stage: string }).stage !== 'replay')
    const replays = acc.filter((r) => (r.raw as { stage: string }).stage === 'replay')
    t.ok(generated.length <= 6, 'never more generated samples accepted than requested')
    t.equal(replays.length, 2, `${protocol}: one replay per news item`)
    t.ok(acc.length > 0, `${protocol}: accepts samples (${acc.length})`)
    t.same([...new Set(acc.map((r) => r.item_id))].length, 2, `${protocol}: every news item has accepted samples`)
    t.ok(replays.every((r) => r.messages![1]!.role === 'assistant' && r.messages![1]!.content.length > 50), 'a replay teaches the news text')
    const byReason = stored.filter((r) => !r.accepted).reduce<Record<string, number>>((m, r) => ({ ...m, [r.reject_reason!]: (m[r.reject_reason!] ?? 0) + 1 }), {})
    t.same(run.samples.rejected_by_reason, byReason, `${protocol}: rejections by reason add up`)
    t.ok(stored.every((r) => r.raw && typeof r.raw === 'object'), 'raw output kept for every sample')
    t.match(run.provenance, { protocol, template_version: REGISTRY[protocol].templates.version, dataset: { set_id: setId, version: /\d/ }, options: { seed: 11, samples_per_news: 3, replay: 1 } })
    if (protocol === 'naive') {
      t.equal(generated.length, 6, 'naive: the news text itself, three copies each')
      t.equal(run.throughput.worker_calls, 0, 'naive needs no model')
    } else {
      t.match(run.provenance, { worker: { engine: 'hf', model: 'tiny-qwen2' }, generating_model: 'tiny-qwen2' })
      t.ok(run.throughput.worker_calls >= 1 && run.throughput.worker_calls <= (maxCalls[protocol] ?? 2), `${protocol}: ${run.throughput.worker_calls} batched worker calls`)
      t.ok(run.tokens.completion > 0)
    }
    for (const r of acc) {
      const m = r.messages!
      t.same(m.map((x) => x.role), ['user', 'assistant'], 'a training conversation without the news')
    }
  }
})

t.test('batching: the worker gets a few large calls, not one per sample', async (t) => {
  const before = proxy.generateBatchSizes.length
  const run = await finished((await create({ protocol: 'paraphrase', filter: { domains: ['mathematics'] }, options: { ...small, samples_per_news: 6, items_per_call: 20, max_rounds: 1 } })).id)
  t.equal(run.state, 'succeeded', run.error ?? '')
  const calls = proxy.generateBatchSizes.slice(before)
  t.equal(calls.length, 1, 'one call for 20 news items × 6 samples')
  t.equal(calls[0], 20 * 6, 'one request per news item and style (n samples each)')
  t.equal(run.samples.accepted + run.samples.rejected, 120, 'every completion is accounted for')
})

t.test('news in context and replay', async (t) => {
  const run = await finished((await create({ protocol: 'naive', options: { samples_per_news: 1, news_in_context: true, replay: 2 } })).id)
  const stored = await rows(run.id)
  t.equal(stored.length, 6, 'one sample and two replays per news')
  const shadowed = stored.filter((r) => (r.raw as { stage: string }).stage === 'naive')
  t.ok(shadowed.every((r) => r.messages![0]!.role === 'system' && r.messages![0]!.content.startsWith('News:\n')), 'the news precedes the training text')
  t.equal(stored.filter((r) => (r.raw as { stage: string }).stage === 'replay').length, 4)
})

t.test('samples pages and the export equals the stored accepted samples', async (t) => {
  const run = await finished((await create({ protocol: 'naive', filter: { domains: ['events'] }, options: { samples_per_news: 2 } })).id)
  const seen: unknown[] = []
  let after: string | null = null
  do {
    const page: { data: { messages: unknown }[]; next_cursor: string | null } = (await app.inject({ url: `/generation-runs/${run.id}/samples?accepted=true&limit=7${after ? `&after=${after}` : ''}`, headers: auth })).json()
    seen.push(...page.data.map((s) => s.messages))
    after = page.next_cursor
  } while (after)
  t.equal(seen.length, 40)
  const exp = await app.inject({ url: `/generation-runs/${run.id}/export`, headers: auth })
  t.match(exp.headers['content-type'], /application\/x-ndjson/)
  const lines = exp.body.trim().split('\n').map((l) => JSON.parse(l))
  t.same(lines.map((l) => l.messages), seen, 'export = stored accepted samples, in order')
  t.ok(lines.every((l) => Object.keys(l).join() === 'messages'), 'each line is one worker training example')
  const bad = await app.inject({ url: `/generation-runs/${run.id}/samples?after=garbage`, headers: auth })
  t.equal(bad.statusCode, 400)
})

t.test('restart mid-run resumes where it stood, without duplicates', async (t) => {
  await app.generationRunner.stop() // the run belongs to the service being restarted, no other runner
  t.teardown(() => app.generationRunner.start())
  const a = await service('gen-restart')
  const created = await create({ protocol: 'paraphrase', filter: { domains: ['coding'] }, options: { ...small, samples_per_news: 2, items_per_call: 2, max_rounds: 1 } }, a)
  await until(() => get(created.id, a), (r) => r.progress.done >= 2)
  await a.close() // the runner stops: the run goes back to the queue with its samples
  const mid = await get(created.id)
  t.equal(mid.state, 'queued', 'a stopped service leaves the run queued, not lost')
  const doneBefore = mid.progress.done
  const b = await service('gen-restart-2')
  t.teardown(() => b.close())
  const run = await finished(created.id, b)
  t.equal(run.state, 'succeeded')
  const late = await b.inject({ method: 'DELETE', url: `/generation-runs/${run.id}`, headers: auth })
  t.equal(late.statusCode, 409, 'a succeeded run has nothing to cancel (it answered 202 before)')
  t.equal(late.json().code, 'conflict')
  const stored = await rows(run.id)
  t.equal(stored.length, 40, '20 news × 2 samples, each written once')
  t.equal(run.samples.accepted + run.samples.rejected, 40, 'counters were not doubled')
  const events = (await b.inject({ url: `/generation-runs/${run.id}/events?limit=1000`, headers: auth })).json().data
  t.ok(events.some((e: { type: string; message: string }) => e.type === 'resume' && e.message.includes(`${doneBefore} of 20`)), 'the resume is recorded')
})

t.test('worker unreachable: the run fails with the reason after retries, keeps its samples, resumes later', async (t) => {
  const deadConfig = testConfig(tdb.url, { urls: { ...config.urls, worker: `http://127.0.0.1:${await freePort()}` } })
  await app.generationRunner.stop() // only the service without a worker may take the run
  const dead = await service('gen-dead', deadConfig, { unavailableGraceMs: 0 }) // no grace: each wait counts
  const created = await create({ protocol: 'implication', options: { ...small, samples_per_news: 1 } }, dead)
  const failed = await finished(created.id, dead)
  await dead.close()
  t.equal(failed.state, 'failed')
  t.match(failed.error, /gave up after 3 attempts.*unreachable/)
  t.equal(failed.attempts, 3, 'three attempts')
  await app.generationRunner.start()
  const resumed = await app.inject({ method: 'POST', url: `/generation-runs/${created.id}/resume`, headers: auth })
  t.equal(resumed.statusCode, 202)
  const run = await finished(created.id)
  t.equal(run.state, 'succeeded', 'the resumed run finishes once the worker is back')
  const again = await app.inject({ method: 'POST', url: `/generation-runs/${created.id}/resume`, headers: auth })
  t.equal(again.statusCode, 409, 'a succeeded run cannot be resumed')
})

t.test('cancel a running run; its samples are kept', async (t) => {
  const created = await create({ protocol: 'paraphrase', filter: { domains: ['leaderboards'] }, options: { ...small, samples_per_news: 2, items_per_call: 1, max_rounds: 1 } })
  await until(() => get(created.id), (r) => r.progress.done >= 1)
  const del = await app.inject({ method: 'DELETE', url: `/generation-runs/${created.id}`, headers: auth })
  t.equal(del.statusCode, 202)
  const run = await finished(created.id)
  t.equal(run.state, 'cancelled')
  t.ok(run.progress.done >= 1 && run.progress.done < 20)
  t.equal((await rows(run.id)).length, run.samples.accepted + run.samples.rejected)
  const again = await app.inject({ method: 'DELETE', url: `/generation-runs/${created.id}`, headers: auth })
  t.equal(again.statusCode, 202, 'a cancelled run cancelled again answers as the first time')
  t.equal(again.json().state, 'cancelled')
})

t.test('live progress as Server-Sent Events, ending with the terminal state', async (t) => {
  const created = await create({ protocol: 'paraphrase', options: { ...small, samples_per_news: 2 } })
  const address = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const res = await fetch(`${address}/generation-runs/${created.id}/stream`, { headers: auth })
  t.match(res.headers.get('content-type'), /text\/event-stream/)
  const text = await res.text()
  const events = [...text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => ({ event: m[1], data: JSON.parse(m[2]!) }))
  t.equal(events[0]!.event, 'snapshot')
  t.equal(events.at(-1)!.event, 'end')
  t.equal(events.at(-1)!.data.state, 'succeeded')
  t.ok(events.some((e) => e.event === 'progress'), 'progress events stream as they happen')
})

t.test('bad input: 4xx naming the field; nothing queued', async (t) => {
  const count = async () => (await tdb.db.selectFrom('generation_runs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n
  const before = await count()
  const post = (payload: object) => app.inject({ method: 'POST', url: '/generation-runs', headers: auth, payload })
  const unknownSet = await post({ news_set_id: 'ns_00000000000000000000000000000000', protocol: 'self_qa' })
  t.equal(unknownSet.statusCode, 404)
  t.same(unknownSet.json().errors, [{ path: '/news_set_id', message: 'no such news set' }])
  const badProtocol = await post({ news_set_id: setId, protocol: 'telepathy' })
  t.equal(badProtocol.statusCode, 400)
  t.ok(badProtocol.json().errors.some((e: { path: string }) => e.path === '/protocol'))
  const range = await post({ news_set_id: setId, protocol: 'self_qa', options: { samples_per_news: 0, temperature: 5, bogus: 1 } })
  t.equal(range.statusCode, 400)
  const paths = range.json().errors.map((e: { path: string }) => e.path)
  t.ok(['/options/samples_per_news', '/options/temperature', '/options/bogus'].every((p) => paths.includes(p)), paths.join(', '))
  const missing = await post({ news_set_id: setId, protocol: 'naive', filter: { item_keys: ['nope-001'] } })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().errors[0].path, '/filter/item_keys')
  const control = (await tdb.db.selectFrom('news_sets').select('id').where('kind', '=', 'control').executeTakeFirstOrThrow()).id
  const ctl = await post({ news_set_id: control, protocol: 'naive' })
  t.equal(ctl.statusCode, 400)
  t.match(ctl.json().errors[0], { path: '/news_set_id', message: /control set/ })
  t.equal(await count(), before, 'nothing was queued')
  t.equal((await app.inject({ url: '/generation-runs/gen_nope', headers: auth })).statusCode, 404)
})

t.test('a news set used by a run cannot be deleted', async (t) => {
  const imported = await app.inject({ method: 'POST', url: '/news-sets', headers: auth, payload: { name: 'in-use', items: [{ id: 'x-1', domain: 'events', title: 'T', date: '2026-02-02', text: 'Something new happened in 2026 somewhere.', questions: [{ id: 'x-1-q1', type: 'recall', question: 'What?', options: ['a', 'b', 'c', 'd'], answer_index: 0, answer_text: 'a', explanation: '' }] }] } })
  const id = imported.json().set.id
  await finished((await create({ news_set_id: id, protocol: 'naive', filter: {}, options: { samples_per_news: 1 } })).id)
  const del = await app.inject({ method: 'DELETE', url: `/news-sets/${id}`, headers: auth })
  t.equal(del.statusCode, 409)
  t.equal(del.json().code, 'in_use')
})
