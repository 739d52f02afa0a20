// Faults: the worker failing mid-run, a run failing for good and resumed, the service restarting mid-run,
// cancelling a running run. A small proxy in front of the real worker decides when calls fail or hang,
// so every scenario is deterministic; nothing may be recorded twice.
import http from 'node:http'
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth } from '@sys2ft/service-kit/testing'
import { startWorker } from '@sys2ft/worker-client/testing'
import { MODEL, seedNewsSet, someNews, startService, until } from './fixtures.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
const newsSet = await seedNewsSet(tdb.db, someNews(1))

/**
 * Forwards to the worker. `plan(n)` says what the n-th /v1/score call (from 1) gets: `pass`, `fail`
 * (503, as a worker restarting or a gateway would answer) or `hang` (held until released).
 */
function proxy() {
  let calls = 0
  const scored: string[][] = []
  const held: (() => void)[] = []
  // `silent`: /healthz gets no answer either (a stopped worker) instead of passing through
  const state = { plan: (_n: number): 'pass' | 'fail' | 'hang' => 'pass', silent: false }
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    if (req.url === '/healthz' && state.silent) return
    if (req.url === '/v1/score') {
      const action = state.plan(++calls)
      if (action === 'fail') {
        res.writeHead(503, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'worker restarting', code: 'unavailable' }))
        return
      }
      if (action === 'hang') {
        await new Promise<void>((resolve) => held.push(resolve))
        if (res.destroyed || req.destroyed) return
      }
    }
    const answer = await fetch(`${worker.url}${req.url}`, { method: req.method, headers: { 'content-type': 'application/json' }, body: req.method === 'GET' ? undefined : body })
    const text = await answer.text()
    if (req.url === '/v1/score' && answer.ok) scored.push(JSON.parse(body.toString()).items.map((i: { messages: { content: string }[] }) => i.messages[0]!.content))
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(text)
  })
  return {
    state,
    scored,
    calls: () => calls,
    held: () => held.length,
    release: () => held.splice(0).forEach((r) => r()),
    async listen() {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
      return `http://127.0.0.1:${(server.address() as { port: number }).port}`
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }),
  }
}

const p = proxy()
const proxyUrl = await p.listen()
t.teardown(() => p.close())

const run = (id: string) => tdb.db.selectFrom('eval_runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
const resultRows = (id: string) => tdb.db.selectFrom('eval_results').select('question_id').where('run_id', '=', id).execute()
const states = async (id: string) => (await tdb.db.selectFrom('eval_run_events').select(['type', 'state']).where('run_id', '=', id).orderBy('id').execute())
async function create(app: { inject: (o: object) => Promise<{ statusCode: number; json: () => any }> }, extra: object = {}) {
  const res = await app.inject({ method: 'POST', url: '/eval-runs', headers: auth, payload: { model: MODEL, set_id: newsSet, mode: 'base', options: { questions_per_call: 5 }, ...extra } })
  if (res.statusCode !== 202) throw new Error(JSON.stringify(res.json()))
  return res.json().id as string
}
/** Whether each question went to the worker successfully at most once (its prompt appears once in the successful calls). */
function scoredOnce(): boolean {
  const prompts = p.scored.flat()
  return new Set(prompts).size === prompts.length
}

t.test('the worker fails mid-run: the run waits, retries, resumes where it stopped and records nothing twice', async (t) => {
  p.scored.length = 0
  const first = p.calls()
  p.state.plan = (n) => (n - first === 3 || n - first === 4 ? 'fail' : 'pass')
  const { app } = await startService(tdb.db, tdb.url, proxyUrl, { unavailableGraceMs: 60_000 })
  const id = await create(app)
  await until(async () => (await run(id)).state === 'succeeded', 60_000, 'the run to succeed')
  await app.close()
  const row = await run(id)
  t.equal(row.attempts, 1, 'an unreachable worker within the grace counts no attempt (a restart would otherwise burn them all)')
  t.equal(row.progress_done, 25)
  const rows = await resultRows(id)
  t.equal(rows.length, 25)
  t.equal(new Set(rows.map((r) => r.question_id)).size, 25)
  t.ok(scoredOnce(), 'no question was scored twice')
  t.equal(p.scored.flat().length, 25, 'exactly 25 questions reached the worker successfully')
  const ev = await states(id)
  const waits = await tdb.db.selectFrom('eval_run_events').select(['message', 'data']).where('run_id', '=', id).where('state', '=', 'queued').where('message', 'like', '%no attempt counted%').execute()
  t.equal(waits.length, 2, 'each wait for the worker is an event')
  t.ok(waits.every((w) => (w.data as { retry_in_ms: number }).retry_in_ms > 0), 'with its backoff')
  t.ok(ev.some((e) => e.type === 'resume'), 'the retry resumed from the stored results')
  t.same(ev.filter((e) => e.type === 'state').map((e) => e.state), ['queued', 'running', 'queued', 'running', 'queued', 'running', 'succeeded'])
})

t.test('the worker stays down: the run fails with the reason; POST …/resume finishes it without repeating work', async (t) => {
  p.scored.length = 0
  const first = p.calls()
  p.state.plan = (n) => (n - first >= 2 ? 'fail' : 'pass')
  const { app } = await startService(tdb.db, tdb.url, proxyUrl, { unavailableGraceMs: 0 })
  const id = await create(app)
  await until(async () => (await run(id)).state === 'failed', 60_000, 'the run to fail')
  const failed = await run(id)
  t.equal(failed.attempts, 5)
  t.match(failed.error, /503/)
  t.equal((await resultRows(id)).length, 5, 'the chunk scored before the failure is kept')

  p.state.plan = () => 'pass'
  const resumed = await app.inject({ method: 'POST', url: `/eval-runs/${id}/resume`, headers: auth })
  t.equal(resumed.statusCode, 202)
  t.match(resumed.json(), { state: 'queued', progress: { done: 5, total: 25 }, error: null })
  await until(async () => (await run(id)).state === 'succeeded', 60_000, 'the resumed run to succeed')
  t.equal((await app.inject({ method: 'POST', url: `/eval-runs/${id}/resume`, headers: auth })).statusCode, 409, 'nothing to resume any more')
  await app.close()
  const rows = await resultRows(id)
  t.equal(rows.length, 25)
  t.ok(scoredOnce(), 'no question was scored twice')
  t.equal(p.scored.flat().length, 25)
})

t.test('the service restarts mid-run: the run is requeued and the next process finishes it', async (t) => {
  p.scored.length = 0
  const first = p.calls()
  p.state.plan = (n) => (n - first === 2 ? 'hang' : 'pass')
  const one = await startService(tdb.db, tdb.url, proxyUrl)
  const id = await create(one.app)
  await until(async () => p.held() === 1, 30_000, 'the second call to hang')
  await one.app.close()
  t.match(await run(id), { state: 'queued', lease_owner: null, progress_done: 5 }, 'stopping put the run back in the queue, its first chunk kept')
  p.release()

  const two = await startService(tdb.db, tdb.url, proxyUrl)
  await until(async () => (await run(id)).state === 'succeeded', 60_000, 'the run to finish after the restart')
  await two.app.close()
  const rows = await resultRows(id)
  t.equal(rows.length, 25)
  t.equal(new Set(rows.map((r) => r.question_id)).size, 25, 'nothing recorded twice')
  t.ok(p.scored.flat().length <= 25 + 5, 'at most the chunk in flight at the restart was asked again')
})

t.test('cancel a running run: it stops, keeps what it wrote, and can be resumed', async (t) => {
  p.scored.length = 0
  const first = p.calls()
  p.state.plan = (n) => (n - first === 2 ? 'hang' : 'pass')
  const { app } = await startService(tdb.db, tdb.url, proxyUrl, { workerClient: { retries: 0, hang: { probeMs: 100, probes: 3, probeTimeoutMs: 3_000 } }, noticeMs: 300 })
  const id = await create(app)
  await until(async () => p.held() === 1, 30_000, 'the second call to hang')
  // the worker still answers /healthz: a slow batch, said so in the run's events, not given up
  await until(async () => (await states(id)).some((e) => e.type === 'waiting'), 10_000, 'a waiting event')
  const waiting = await tdb.db.selectFrom('eval_run_events').select('message').where('run_id', '=', id).where('type', '=', 'waiting').execute()
  t.match(waiting[0]!.message, /waiting on the worker: \d+ s into this batch \(it answers \/healthz/)
  t.equal(p.held(), 1, 'the call is still waiting')
  const del = await app.inject({ method: 'DELETE', url: `/eval-runs/${id}`, headers: auth })
  t.equal(del.statusCode, 202)
  await until(async () => (await run(id)).state === 'cancelled', 30_000, 'the run to be cancelled')
  p.release()
  t.equal((await resultRows(id)).length, 5)
  p.state.plan = () => 'pass'
  t.equal((await app.inject({ method: 'POST', url: `/eval-runs/${id}/resume`, headers: auth })).statusCode, 202)
  await until(async () => (await run(id)).state === 'succeeded', 60_000, 'the resumed run')
  await app.close()
  t.equal((await resultRows(id)).length, 25)
})

t.test('a hung worker (no answer, not even to /healthz) sends the run back to the queue within seconds, not 30 min', async (t) => {
  p.scored.length = 0
  const first = p.calls()
  p.state.plan = (n) => (n - first === 1 ? 'hang' : 'pass')
  const { app } = await startService(tdb.db, tdb.url, proxyUrl, { workerClient: { retries: 0, hang: { probeMs: 100, probes: 2, probeTimeoutMs: 1_000 } }, noticeMs: 60_000 })
  const id = await create(app)
  await until(async () => p.held() === 1, 30_000, 'the first call to hang')
  p.state.silent = true
  const hungAt = Date.now()
  await until(async () => (await states(id)).some((e) => e.type === 'waiting'), 10_000, 'the silence to be told')
  await until(async () => (await tdb.db.selectFrom('eval_run_events').select('message').where('run_id', '=', id).where('message', 'like', '%hung%').execute()).length > 0, 10_000, 'the call to be given up')
  const gaveUpMs = Date.now() - hungAt
  t.ok(gaveUpMs < 5_000, `given up ${gaveUpMs} ms after the worker went silent`)
  p.state.silent = false
  p.release()
  await until(async () => (await run(id)).state === 'succeeded', 60_000, 'the run, once the worker is back')
  await app.close()
  const done = await run(id)
  t.equal(done.attempts, 1, 'a hung worker is an unavailable one: no attempt counted within the grace')
  t.equal((await resultRows(id)).length, 25)
  t.ok(scoredOnce(), 'no question recorded from two calls')
  const waiting = await tdb.db.selectFrom('eval_run_events').select('message').where('run_id', '=', id).where('type', '=', 'waiting').execute()
  t.match(waiting[0]!.message, /did not answer \/healthz/)
})
