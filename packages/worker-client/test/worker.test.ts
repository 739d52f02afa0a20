// The real worker process (tiny random Qwen2, CPU) driven through the typed client.
import http from 'node:http'
import t from 'tap'
import { WorkerClient, WorkerError, waitNotices, type WaitNote } from '../src/index.ts'
import { freePort, startWorker } from '../src/testing.ts'

const worker = await startWorker()
t.teardown(() => worker.stop())
const client = new WorkerClient({ baseURL: worker.url, requestId: 'client-test-1' })
const chat = (content: string) => [{ role: 'user' as const, content }]

t.test('info and request-id forwarding', async (t) => {
  const info = await client.info()
  t.match(info, { engine: 'hf', device: 'cpu', model: { id: 'tiny-qwen2' }, training: null })
  const res = await client.http.get('/healthz')
  t.equal(res.headers['x-request-id'], 'client-test-1', 'the worker answers with the forwarded request id')
})

t.test('generate: one batched call, seeded and deterministic, n completions per request', async (t) => {
  const body = { requests: [{ messages: chat('Tell me something.'), n: 2, temperature: 1, max_tokens: 12, seed: 7 }, { prompt: 'Once upon a time', max_tokens: 8, temperature: 0 }] }
  const a = await client.generate(body)
  const b = await client.generate(body)
  t.equal(a.results.length, 2)
  t.equal(a.results[0]!.completions.length, 2, 'n = 2')
  t.equal(a.results[1]!.completions.length, 1)
  t.same(a.results.map((r) => r.completions.map((c) => c.text)), b.results.map((r) => r.completions.map((c) => c.text)), 'same seed, same text')
  for (const c of a.results.flatMap((r) => r.completions)) {
    t.ok(c.completion_tokens >= 1 && c.completion_tokens <= 12)
    t.ok(['stop', 'length'].includes(c.finish_reason))
  }
  t.equal(a.usage.completion_tokens, a.results.flatMap((r) => r.completions).reduce((s, c) => s + c.completion_tokens, 0))
})

t.test('score: a log-probability and token count per continuation', async (t) => {
  const res = await client.score({ items: [{ prompt: 'The sky is', continuations: [' blue', ' made of cheese'] }, { messages: chat('Pick one.'), continuations: ['A', 'B'] }] })
  t.equal(res.results.length, 2)
  for (const r of res.results) {
    t.equal(r.scores.length, 2)
    for (const s of r.scores) t.ok(s.logprob < 0 && s.tokens >= 1)
  }
  t.ok(res.results[0]!.scores[1]!.tokens > res.results[0]!.scores[0]!.tokens, 'a longer continuation has more tokens')
})

t.test('bad input: the worker’s problem arrives as a WorkerError naming the field', async (t) => {
  const err = await client.generate({ requests: [{ prompt: 'x', max_tokens: 0, temperature: 9 }] }).catch((e) => e)
  t.type(err, WorkerError)
  t.equal(err.status, 400)
  t.equal(err.code, 'validation_failed')
  const paths = err.problem.errors.map((e: { path: string }) => e.path)
  t.ok(paths.includes('/requests/0/max_tokens') && paths.includes('/requests/0/temperature'), `fields named: ${paths.join(', ')}`)
  const unknown = await client.score({ items: [{ prompt: 'x', adapter: 'no-such-adapter', continuations: ['y'] }] }).catch((e) => e)
  t.equal(unknown.status, 404)
  t.equal(unknown.code, 'unknown_adapter')
  t.notOk(unknown.unavailable)
})

t.test('training: idempotent start by id, progress, an adapter usable at once', async (t) => {
  const examples = Array.from({ length: 6 }, (_, i) => ({ messages: [...chat(`Code word ${i}?`), { role: 'assistant' as const, content: `zebra-${i}` }] }))
  const body = { training_id: 'job_test_1', adapter_name: 'client-test', examples, epochs: 2, batch_size: 2, learning_rate: 5e-3, lora: { r: 4, alpha: 8 } }
  const first = await client.startTraining(body)
  const again = await client.startTraining(body)
  t.equal(again.id, first.id, 'a repeated start with the same training_id returns the same training')
  const seen: number[] = []
  const done = await client.waitForTraining(first.id, { intervalMs: 100, onStatus: (s) => seen.push(s.step) })
  t.equal(done.state, 'succeeded', done.error ?? '')
  t.equal(done.step, done.total_steps)
  t.ok(done.loss_history.length >= 1)
  t.match(done.adapter, { name: 'client-test', examples: 6, training_id: 'job_test_1' })
  t.ok((await client.adapters()).data.some((a) => a.name === 'client-test'))
  const gen = await client.generate({ requests: [{ messages: chat('Code word 1?'), adapter: 'client-test', max_tokens: 4, temperature: 0 }] })
  t.equal(gen.results.length, 1, 'the new adapter serves generate right away')
  await client.deleteAdapter('client-test')
  const gone = await client.adapter('client-test').catch((e) => e)
  t.equal(gone.status, 404)
})

t.test('an unreachable worker is a WorkerError marked unavailable, after retries for safe calls', async (t) => {
  const nobody = new WorkerClient({ baseURL: `http://127.0.0.1:${await freePort()}`, retries: 2, retryDelayMs: 10 })
  const started = Date.now()
  const err = await nobody.info().catch((e) => e)
  t.type(err, WorkerError)
  t.equal(err.code, 'worker_unavailable')
  t.ok(err.unavailable)
  t.ok(Date.now() - started < 5000)
  const noRetry = await nobody.startTraining({ adapter_name: 'x', examples: [] }).catch((e) => e)
  t.equal(noRetry.code, 'worker_unavailable', 'a start without training_id is not retried, but fails the same way')
})

t.test('a hung worker (SIGSTOP) is given up after its silent probes, not after the 30-min call timeout', async (t) => {
  const watched = new WorkerClient({ baseURL: worker.url, retries: 0, hang: { probeMs: 300, probes: 3, probeTimeoutMs: 300 } })
  const notes: WaitNote[] = []
  worker.process.kill('SIGSTOP')
  const started = Date.now()
  const err = await watched.generate({ requests: [{ messages: chat('hi'), max_tokens: 4 }] }, { onWait: (n) => notes.push(n) }).then(
    () => null,
    (e: unknown) => e,
  )
  const tookMs = Date.now() - started
  worker.process.kill('SIGCONT')
  t.ok(err instanceof WorkerError, String(err))
  t.match(err, { code: 'worker_hung', status: null, message: /hung \(no answer to \/healthz for 3 probes/ })
  t.equal((err as WorkerError).unavailable, true, 'a hung worker is an unavailable one: the run goes back to the queue')
  t.ok(tookMs < 5_000, `given up after ${tookMs} ms`)
  t.same(notes.map((n) => n.silentProbes), [1, 2, 3])
  // the worker, continued, serves again
  t.equal((await client.generate({ requests: [{ messages: chat('hi'), max_tokens: 2 }] })).results.length, 1)
})

t.test('a slow worker that answers /healthz keeps its call; the waiting notes say so', async (t) => {
  const slow = http.createServer((req, res) => {
    if (req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[],"usage":{"prompt_tokens":0,"completion_tokens":0}}'), 1_500)
  })
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r))
  t.teardown(() => slow.close())
  const watched = new WorkerClient({ baseURL: `http://127.0.0.1:${(slow.address() as { port: number }).port}`, hang: { probeMs: 200, probes: 2 } })
  const told: string[] = []
  const res = await watched.generate({ requests: [] }, { onWait: waitNotices((m) => told.push(m), 500) })
  t.same(res.results, [], 'the call finished')
  t.ok(told.length >= 2 && told.length <= 3, `one note per 500 ms of waiting: ${told.length}`)
  t.match(told[0], /waiting on the worker: [01] s into this batch \(it answers \/healthz, so it is working\)/)
})

t.test('waitNotices: a silent probe is told at once, then the steady notes; a new call starts over', async (t) => {
  const told: string[] = []
  const notes = waitNotices((m) => told.push(m), 60_000)
  for (const n of [{ elapsedMs: 15_000, healthy: true, silentProbes: 0 }, { elapsedMs: 30_000, healthy: false, silentProbes: 1 }, { elapsedMs: 45_000, healthy: false, silentProbes: 2 }, { elapsedMs: 60_000, healthy: true, silentProbes: 0 }, { elapsedMs: 75_000, healthy: true, silentProbes: 0 }, { elapsedMs: 15_000, healthy: false, silentProbes: 1 }])
    notes(n)
  t.equal(told.length, 3)
  t.match(told[0], /did not answer \/healthz \(30 s into this batch\)/)
  t.match(told[1], /waiting on the worker: 60 s into this batch \(it answers/)
  t.match(told[2], /did not answer \/healthz \(15 s/, 'a new call is told about afresh')
})
