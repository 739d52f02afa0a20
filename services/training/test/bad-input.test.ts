// Every way a client can get a training job wrong answers 4xx problem+json naming the field, and
// nothing is queued. No worker process is needed: a registered worker row says which model is served.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { newId } from '@sys2ft/service-kit'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp } from '../src/app.ts'
import { generationRun, newsSet } from './helpers.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const app = await buildApp(testConfig(tdb.url), { db: tdb.db, logger: false, background: 'off', training: { workers: [] } })
t.teardown(() => app.close())
await tdb.db.insertInto('workers').values({ id: newId('wk'), name: 'w', url: 'http://127.0.0.1:1', source: 'api', status: 'up', model: 'tiny-qwen2' }).execute()

const news = await newsSet(tdb.db, 4)
const okRun = await generationRun(tdb.db, news, 2)
const runningRun = await generationRun(tdb.db, news, 2, 'running')
const emptyRun = await generationRun(tdb.db, news, 0)
const control = newId('ns')
await tdb.db.insertInto('news_sets').values({ id: control, name: 'control', description: '', kind: 'control', version: '1', builtin: false, item_count: 0, question_count: 0, content_sha256: 'x' }).execute()

const post = (payload: unknown) => app.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: payload as object })
const paths = (res: { json(): any }) => res.json().errors.map((e: { path: string }) => e.path)
const valid = { base_model: 'tiny-qwen2', data: [{ generation_run_id: okRun }] }

t.test('bad requests: 4xx naming every failing field', async (t) => {
  const cases: [string, unknown, number, string[]][] = [
    ['unknown field', { ...valid, colour: 'blue' }, 400, ['/colour']],
    ['missing base model and data', { seed: 1 }, 400, ['/base_model', '/data']],
    ['empty data', { ...valid, data: [] }, 400, ['/data']],
    ['hyperparameters out of the worker’s ranges', { ...valid, hyperparameters: { lora: { r: 0, dropout: 2 }, learning_rate: 0, epochs: 101, batch_size: 0, max_seq_len: 8, lr_scheduler: 'step' }, seed: -1 },
      400, ['/hyperparameters/lora/r', '/hyperparameters/lora/dropout', '/hyperparameters/learning_rate', '/hyperparameters/epochs', '/hyperparameters/batch_size', '/hyperparameters/max_seq_len', '/hyperparameters/lr_scheduler', '/seed']],
    ['a bad weight and a bad name', { ...valid, name: 'no spaces please', data: [{ generation_run_id: okRun, weight: 0 }] }, 400, ['/name', '/data/0/weight']],
    ['a base model no worker serves', { ...valid, base_model: 'gpt-9' }, 400, ['/base_model']],
    ['unknown run and set, wrong prefix too', { ...valid, data: [{ generation_run_id: newId('gen') }, { news_set_id: newId('ns') }, { generation_run_id: 'ns_123' }] }, 400, ['/data/0/generation_run_id', '/data/1/news_set_id', '/data/2/generation_run_id']],
    ['neither or both ids; news-set fields on a run', { ...valid, data: [{ weight: 2 }, { generation_run_id: okRun, news_set_id: news.setId }, { generation_run_id: okRun, domains: ['coding'] }] }, 400, ['/data/0', '/data/1', '/data/2/domains']],
    ['a run that is not finished', { ...valid, data: [{ generation_run_id: runningRun }] }, 409, ['/data/0/generation_run_id']],
    ['a run with no accepted samples', { ...valid, data: [{ generation_run_id: emptyRun }] }, 400, ['/data/0/generation_run_id']],
    ['a control set', { ...valid, data: [{ news_set_id: control }] }, 400, ['/data/0/news_set_id']],
    ['filters that select nothing, unknown keys and domains', { ...valid, data: [{ news_set_id: news.setId, item_keys: ['item-0', 'nope'] }, { news_set_id: okRun.replace('gen', 'ns'), domains: ['astrology'] }] }, 400, ['/data/0/item_keys/1', '/data/1/domains/0', '/data/1/news_set_id']],
    ['an empty selection', { ...valid, data: [{ news_set_id: news.setId, domains: ['events'] }] }, 400, ['/data/0']],
    ['a source listed twice', { ...valid, data: [{ generation_run_id: okRun }, { generation_run_id: okRun, weight: 2 }] }, 400, ['/data/1/generation_run_id']],
    ['a mix beyond what a training takes', { ...valid, data: [{ generation_run_id: okRun, weight: 1000 }, { news_set_id: news.setId, weight: 0.001 }] }, 400, ['/data']],
  ]
  for (const [what, payload, status, expected] of cases) {
    const res = await post(payload)
    t.equal(res.statusCode, status, `${what}: ${status}`)
    t.match(res.headers['content-type'], /application\/problem\+json/)
    const got = paths(res)
    t.ok(expected.every((p) => got.includes(p)), `${what}: names ${expected.join(', ')} (got ${got.join(', ')})`)
  }
  t.match((await post({ ...valid, data: [{ generation_run_id: runningRun }] })).json(), { code: 'run_not_finished', detail: /is running; only a succeeded run/ })
  t.match((await post({ ...valid, base_model: 'gpt-9' })).json().errors[0].message, /served: tiny-qwen2/)

  const jobs = await tdb.db.selectFrom('training_jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  const events = await tdb.db.selectFrom('training_job_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  t.equal(Number(jobs.n), 0, 'nothing was queued')
  t.equal(Number(events.n), 0, 'and no event written')
})

t.test('the same request, valid, is queued', async (t) => {
  const res = await post(valid)
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.json().state, 'queued', 'no dispatcher runs here: it stays queued')
  const cancel = await app.inject({ method: 'DELETE', url: `/training-jobs/${res.json().id}`, headers: auth })
  t.equal(cancel.statusCode, 202)
  t.equal(cancel.json().state, 'cancelled', 'a queued job is cancelled at once')
  const again = await app.inject({ method: 'DELETE', url: `/training-jobs/${res.json().id}`, headers: auth })
  t.equal(again.statusCode, 202, 'cancelling twice answers as the first time')
  t.equal(again.json().state, 'cancelled', 'cancelling twice changes nothing')
  const reuse = await post({ ...valid, name: res.json().name })
  t.equal(reuse.statusCode, 202, 'a cancelled job’s name is free again')
  const resumed = await app.inject({ method: 'POST', url: `/training-jobs/${res.json().id}/resume`, headers: auth })
  t.equal(resumed.statusCode, 409, 'resuming a cancelled job whose name is taken again is refused …')
  t.same(resumed.json().errors, [{ path: '/name', message: 'is taken' }])
  const other = await post({ ...valid, name: 'to-resume' })
  await app.inject({ method: 'DELETE', url: `/training-jobs/${other.json().id}`, headers: auth })
  const back = await app.inject({ method: 'POST', url: `/training-jobs/${other.json().id}/resume`, headers: auth })
  t.equal(back.statusCode, 202, '… otherwise it is queued again')
  t.match(back.json(), { state: 'queued', attempts: 0, cancel_requested: false, error: null, finished_at: null })
  t.equal((await app.inject({ method: 'POST', url: `/training-jobs/${other.json().id}/resume`, headers: auth })).statusCode, 409, 'a queued job cannot be resumed')
  const withEmpty = await post({ ...valid, data: [{ generation_run_id: emptyRun }, { news_set_id: news.setId }] })
  t.equal(withEmpty.statusCode, 202, 'a run whose samples were all rejected may sit beside a source with examples')
  t.same(withEmpty.json().data.resolved.map((r: { count: number; share: number }) => [r.count, r.share]), [[0, 0], [4, 1]], 'it adds nothing to the mix')
})
