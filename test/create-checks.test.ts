// Checks made when a resource is created, in every service the same way: the model must be the one
// the worker serves (eval runs, generation runs and experiments; training already checked its pool),
// and an experiment's grid is bounded and stored in batches. Before, `{"model":"no-such-model"}`
// answered 202 and failed later, and a 10 × 8 × 8 × 8 grid made 10,252 cells (a larger one a 500).
import http from 'node:http'
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { loadBuiltin } from '@sys2ft/dataset'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as evaluation } from '@sys2ft/evaluation'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())

// A worker that only says which model it serves: creation asks nothing else.
const infoCalls: string[] = []
const worker = http.createServer((req, res) => {
  infoCalls.push(req.url ?? '')
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ engine: 'hf', device: 'cpu', dtype: 'bf16', model: { id: 'served-model', path: '/m' }, adapters: [], training: null, max_batch: 8, version: '0' }))
})
await new Promise<void>((r) => worker.listen(0, '127.0.0.1', () => r()))
t.teardown(() => new Promise<void>((r) => worker.close(() => r())))
const workerUrl = `http://127.0.0.1:${(worker.address() as { port: number }).port}`
const urls = (w: string) => ({ generation: 'http://127.0.0.1:1', training: 'http://127.0.0.1:1', evaluation: 'http://127.0.0.1:1', worker: w })

const gen = await generation(testConfig(tdb.url, { urls: urls(workerUrl) }), { db: tdb.db, logger: false })
const ev = await evaluation(testConfig(tdb.url, { urls: urls(workerUrl), limits: { experimentCells: 500 } }), { db: tdb.db, logger: false })
t.teardown(() => Promise.all([gen.close(), ev.close()]))

// The shipped set, imported through the API (the seed is not run in tests).
const b = loadBuiltin()
const imported = await gen.inject({ method: 'POST', url: '/news-sets', headers: auth, payload: { name: 'checks', items: b.news.slice(0, 10) } })
const setId = imported.json().set.id as string
const count = async (table: 'eval_runs' | 'generation_runs' | 'experiments' | 'experiment_cells') =>
  Number((await tdb.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
const errorsOf = (res: { json: () => { errors?: { path: string; message: string }[] } }) => res.json().errors ?? []

t.test('a model the worker does not serve is a 400 naming the field, in every service', async (t) => {
  t.equal(imported.statusCode, 201, imported.body)
  const before = { runs: await count('eval_runs'), gens: await count('generation_runs'), exps: await count('experiments') }
  const run = await ev.inject({ method: 'POST', url: '/eval-runs', headers: auth, payload: { model: 'no-such-model', set_id: setId, mode: 'base' } })
  t.equal(run.statusCode, 400, run.body.slice(0, 300))
  t.match(errorsOf(run), [{ path: '/model', message: /serves served-model, not no-such-model/ }])

  const genRun = await gen.inject({ method: 'POST', url: '/generation-runs', headers: auth, payload: { news_set_id: setId, protocol: 'naive', options: { model: 'no-such-model' } } })
  t.equal(genRun.statusCode, 400, genRun.body.slice(0, 300))
  t.match(errorsOf(genRun), [{ path: '/options/model' }])

  const exp = await ev.inject({ method: 'POST', url: '/experiments', headers: auth, payload: { news_set_id: setId, models: ['served-model', 'no-such-model'] } })
  t.equal(exp.statusCode, 400, exp.body.slice(0, 300))
  t.match(errorsOf(exp), [{ path: '/models/1' }])
  t.same({ runs: await count('eval_runs'), gens: await count('generation_runs'), exps: await count('experiments') }, before, 'nothing stored')

  const ok = await ev.inject({ method: 'POST', url: '/eval-runs', headers: auth, payload: { model: 'served-model', set_id: setId, mode: 'base' } })
  t.equal(ok.statusCode, 202, 'the served model is accepted')
})

t.test('a worker that does not answer is no reason to refuse: the run waits for it', async (t) => {
  const down = await evaluation(testConfig(tdb.url, { urls: urls('http://127.0.0.1:1') }), { db: tdb.db, logger: false })
  t.teardown(() => down.close())
  const res = await down.inject({ method: 'POST', url: '/eval-runs', headers: auth, payload: { model: 'any-model', set_id: setId, mode: 'base' } })
  t.equal(res.statusCode, 202, res.body.slice(0, 300))
})

t.test('an experiment grid over the limit is a 400 that says its cell count; a big one within it is stored in batches', async (t) => {
  const grid = { news_set_id: setId, models: ['served-model'], protocols: ['naive', 'paraphrase', 'implication', 'self_qa'], samples_per_news: [1, 2, 3, 4, 5, 6, 7, 8], seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], training: { learning_rate: [1e-4, 2e-4, 3e-4, 4e-4], epochs: [1, 2, 3, 4], lora_r: [8, 16] } }
  const before = await count('experiments')
  const tooBig = await ev.inject({ method: 'POST', url: '/experiments', headers: auth, payload: grid })
  t.equal(tooBig.statusCode, 400, tooBig.body.slice(0, 300))
  const cells = Number(/expands to (\d+) cells/.exec(tooBig.json().detail)?.[1] ?? /(\d+) cells/.exec(tooBig.body)?.[1])
  t.ok(cells > 65_535 / 6, `says its cell count (${cells}): more cells than one insert's parameters hold`)
  t.match(tooBig.json().detail, /more than the 500 allowed/)
  t.equal(await count('experiments'), before, 'nothing stored')

  const roomy = await evaluation(testConfig(tdb.url, { urls: urls(workerUrl), limits: { experimentCells: 100_000 } }), { db: tdb.db, logger: false })
  t.teardown(() => roomy.close())
  const cellsBefore = await count('experiment_cells')
  const big = await roomy.inject({ method: 'POST', url: '/experiments', headers: auth, payload: grid })
  t.equal(big.statusCode, 202, big.body.slice(0, 300))
  t.equal(await count('experiment_cells') - cellsBefore, cells, 'every cell stored (more than one statement’s worth of parameters)')
  await roomy.inject({ method: 'DELETE', url: `/experiments/${big.json().id}`, headers: auth })
})

t.test('a training budget: FLOPs need each model’s N, and one budget at a time', async (t) => {
  const before = await count('experiments')
  const unknown = await ev.inject({ method: 'POST', url: '/experiments', headers: auth, payload: { news_set_id: setId, models: ['served-model'], protocols: ['naive'], training: { flops_budget: 1e15 } } })
  t.equal(unknown.statusCode, 400, unknown.body.slice(0, 300))
  t.match(unknown.json().errors, [{ path: '/training/flops_budget', message: /needs the parameter count of served-model: give it in model_params/ }])
  const both = await ev.inject({ method: 'POST', url: '/experiments', headers: auth, payload: { news_set_id: setId, models: ['served-model'], protocols: ['naive'], training: { flops_budget: 1e15, token_budget: 1000 } } })
  t.match(both.json(), { status: 400, errors: [{ path: '/training/flops_budget', message: /not both/ }] })
  t.equal(await count('experiments'), before, 'nothing stored')
  const given = await ev.inject({ method: 'POST', url: '/experiments', headers: auth, payload: { news_set_id: setId, models: ['served-model'], model_params: { 'served-model': 1e9 }, protocols: ['naive'], training: { flops_budget: 1.2e14, epochs: [2] } } })
  t.equal(given.statusCode, 202, given.body.slice(0, 300))
  const train = given.json().cells.find((c: { kind: string }) => c.kind === 'training')
  const row = await tdb.db.selectFrom('experiment_cells').select('spec').where('experiment_id', '=', given.json().id).where('key', '=', train.key).executeTakeFirstOrThrow()
  t.equal((row.spec.body.hyperparameters as { token_budget: number }).token_budget, 10_000, '6 · 1e9 · 2 epochs · 10,000 tokens = 1.2e14')
  await ev.inject({ method: 'DELETE', url: `/experiments/${given.json().id}`, headers: auth })
})
