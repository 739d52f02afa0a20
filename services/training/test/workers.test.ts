// The worker pool over the API, with a real worker: registration, health checks, removal, and what
// the health check does about trainings the service did not start.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { freePort, startWorker } from '@sys2ft/worker-client/testing'
import { auth, newsSet, tiny, trainingApp, until } from './helpers.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
const nobody = `http://127.0.0.1:${await freePort()}`
// the configured worker is unreachable; the real one joins through the API
const app = await trainingApp(tdb.url, tdb.db, nobody, { training: { healthMs: 200 } })
t.teardown(() => app.close())
const client = new WorkerClient({ baseURL: worker.url })
const post = (payload: object, key?: string) => app.inject({ method: 'POST', url: '/workers', headers: { ...auth, ...(key ? { 'idempotency-key': key } : {}) }, payload })

let realId = ''

t.test('register, read, list and filter workers', async (t) => {
  const res = await post({ name: 'cpu-1', url: `${worker.url}/`, api_key: 'secret', labels: { gpu: 'none' } }, 'reg-1')
  t.equal(res.statusCode, 201, res.body)
  const w = res.json()
  realId = w.id
  t.match(w.id, /^wk_[0-9a-f]{32}$/)
  t.equal(res.headers.location, `/workers/${w.id}`)
  t.match(w, { name: 'cpu-1', url: worker.url, status: 'up', model: 'tiny-qwen2', engine: 'hf', source: 'api', capacity: 1, labels: { gpu: 'none' }, has_api_key: true, current_job_id: null })
  t.notOk('api_key' in w, 'the key is never shown')
  t.equal(w.info.model.id, 'tiny-qwen2', 'its /v1/info is kept')
  t.equal((await post({ name: 'cpu-1', url: `${worker.url}/`, api_key: 'secret', labels: { gpu: 'none' } }, 'reg-1')).json().id, w.id, 'idempotent replay')

  const config = (await app.inject({ url: '/workers?status=down', headers: auth })).json().data
  t.match(config, [{ name: 'default', source: 'config', status: 'down', url: nobody, last_error: /unreachable/ }], 'the configured worker that does not answer is down, with the reason')
  t.equal((await app.inject({ url: '/workers?model=tiny-qwen2', headers: auth })).json().data.length, 1)
  t.equal((await app.inject({ url: `/workers/${w.id}`, headers: auth })).json().name, 'cpu-1')
  t.equal((await app.inject({ url: '/workers/wk_nope', headers: auth })).statusCode, 404)

  const unreachable = await post({ name: 'ghost', url: `http://127.0.0.1:${await freePort()}` })
  t.equal(unreachable.statusCode, 201)
  t.match(unreachable.json(), { status: 'down', model: null, last_error: /unreachable/ })
})

t.test('bad registrations: 4xx naming the field', async (t) => {
  const dup = await post({ name: 'cpu-1', url: worker.url })
  t.equal(dup.statusCode, 409)
  t.same(dup.json().errors, [{ path: '/name', message: 'is taken' }])
  const bad = await post({ name: 'bad name', url: 'ftp://x', capacity: 0, labels: { a: 1 }, colour: 'red' })
  t.equal(bad.statusCode, 400)
  const paths = bad.json().errors.map((e: { path: string }) => e.path)
  for (const p of ['/name', '/url', '/capacity', '/labels/a', '/colour']) t.ok(paths.includes(p), `names ${p}`)
})

t.test('a training the service did not start: someone else’s makes the worker busy; an orphan of ours is cancelled', async (t) => {
  const examples = Array.from({ length: 300 }, (_, i) => ({ messages: [{ role: 'user' as const, content: `q${i}` }, { role: 'assistant' as const, content: `a${i}` }] }))
  const foreign = await client.startTraining({ training_id: 'somebody-else', adapter_name: 'foreign', examples, batch_size: 1 })
  const busy = await until('the worker to be marked busy', async () => {
    const w = (await app.inject({ url: `/workers/${realId}`, headers: auth })).json()
    return w.status === 'down' ? w : null
  })
  t.match(busy.last_error, /busy: training somebody-else was not dispatched by this service/)
  await client.cancelTraining(foreign.id)
  await until('the worker to be up again', async () => (await app.inject({ url: `/workers/${realId}`, headers: auth })).json().status === 'up')

  const orphanId = `job_${'0'.repeat(32)}-a1`
  await client.startTraining({ training_id: orphanId, adapter_name: 'orphan', examples, batch_size: 1 })
  const cancelled = await until('the orphaned attempt to be cancelled', async () => {
    const s = await client.training(orphanId)
    return s.state === 'cancelled' ? s : null
  })
  t.equal(cancelled.state, 'cancelled', 'an attempt no job holds is cancelled: no job trains twice at once')
})

t.test('removing workers', async (t) => {
  const news = await newsSet(tdb.db, 1)
  const job = await app.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: { base_model: 'tiny-qwen2', data: [{ news_set_id: news.setId }], hyperparameters: { ...tiny, epochs: 100, batch_size: 1 } } })
  t.equal(job.statusCode, 202, job.body)
  await until('the job to be on the worker', async () => (await app.inject({ url: `/workers/${realId}`, headers: auth })).json().current_job_id === job.json().id)
  const refused = await app.inject({ method: 'DELETE', url: `/workers/${realId}`, headers: auth })
  t.equal(refused.statusCode, 409, 'not while a job runs on it')
  await app.inject({ method: 'DELETE', url: `/training-jobs/${job.json().id}`, headers: auth })
  await until('the job to be cancelled', async () => (await app.inject({ url: `/training-jobs/${job.json().id}`, headers: auth })).json().state === 'cancelled')
  t.equal((await app.inject({ method: 'DELETE', url: `/workers/${realId}`, headers: auth })).statusCode, 204)
  t.equal((await app.inject({ url: `/workers/${realId}`, headers: auth })).statusCode, 404)

  const configured = (await app.inject({ url: '/workers?status=down', headers: auth })).json().data.find((w: { name: string }) => w.name === 'default')
  const ro = await app.inject({ method: 'DELETE', url: `/workers/${configured.id}`, headers: auth })
  t.equal(ro.statusCode, 409)
  t.equal(ro.json().code, 'read_only')
})

t.test('only allowed hosts may be registered (SYS2FT_WORKER_HOSTS; default: this machine)', async (t) => {
  const count = async () => (await app.inject({ url: '/workers?limit=100', headers: auth })).json().data.length
  const before = await count()
  for (const [url, why] of [
    ['http://169.254.169.254/latest/meta-data', /host 169\.254\.169\.254 is not in SYS2FT_WORKER_HOSTS/],
    ['http://gpu-7.example.org:8000', /host gpu-7\.example\.org is not in/],
    ['file:///etc/passwd', /http or https|https\?:/],
    ['http://user:pw@127.0.0.1:8000', /must not carry credentials/],
  ] as const) {
    const res = await post({ name: 'intruder', url })
    t.equal(res.statusCode, 400, url)
    t.match(res.json(), { code: 'validation_failed', errors: [{ path: '/url', message: why }] }, url)
  }
  t.equal(await count(), before, 'nothing was written')
})
