// Faults with real worker processes: cancel mid-run, the service restarted mid-job, a worker killed
// (SIGKILL) mid-job, and a worker restarted mid-job. Nothing is lost and nothing runs twice at once.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { startWorker, type RunningWorker } from '@sys2ft/worker-client/testing'
import type { App } from '@sys2ft/service-kit'
import { auth, generationRun, newsSet, tiny, trainingApp, until } from './helpers.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const workers: RunningWorker[] = []
t.teardown(() => Promise.all(workers.map((w) => w.stop('SIGKILL'))))
const launch = async (port?: number) => {
  const w = await startWorker(port ? { port } : {})
  workers.push(w)
  return w
}
// the second worker starts now, beside the first, and joins the pool only when the test registers it
const [first, secondWorker] = await Promise.all([launch(), launch()])

// 120 examples at batch size 1: 120 steps, long enough to act on mid-run even on an idle machine
// (~10 ms a step), short enough when the cores are shared (up to ~200 ms a step)
const news = await newsSet(tdb.db, 10)
const longRun = await generationRun(tdb.db, news, 12)
const longJob = (extra: object = {}) => ({ base_model: 'tiny-qwen2', data: [{ generation_run_id: longRun }], hyperparameters: { ...tiny, batch_size: 1 }, ...extra })

const job = async (app: App, id: string) => (await app.inject({ url: `/training-jobs/${id}`, headers: auth })).json()
const create = async (app: App, body: object) => {
  const res = await app.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: body })
  if (res.statusCode !== 202) throw new Error(res.body)
  return res.json().id as string
}
const midRun = (app: App, id: string) => until(`${id} to be mid-run`, async () => {
  const j = await job(app, id)
  if (['succeeded', 'failed', 'cancelled'].includes(j.state)) throw new Error(`${id} ended (${j.state}) before the test could act on it`)
  return j.state === 'running' && j.progress.done >= 1 && j.progress.done < j.progress.total ? j : null
})
const ended = (app: App, id: string) => until(`${id} to end`, async () => {
  const j = await job(app, id)
  return ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : null
}, 120_000)
const states = async (id: string) => (await tdb.db.selectFrom('training_job_events').select(['state', 'message']).where('job_id', '=', id).where('type', '=', 'state').orderBy('id').execute()).map((e) => e.state)

let app = await trainingApp(tdb.url, tdb.db, first.url, { owner: 'faults-a', training: { leaseMs: 1_500 } })
t.teardown(() => app.close())

t.test('cancel mid-run: the training is cancelled on the worker too', async (t) => {
  const id = await create(app, longJob({ name: 'to-cancel' }))
  const running = await midRun(app, id)
  const res = await app.inject({ method: 'DELETE', url: `/training-jobs/${id}`, headers: auth })
  t.equal(res.statusCode, 202)
  t.equal(res.json().cancel_requested, true)
  const done = await ended(app, id)
  t.equal(done.state, 'cancelled')
  t.ok(done.progress.done < done.progress.total, `stopped at step ${done.progress.done} of ${done.progress.total}`)
  const onWorker = await new WorkerClient({ baseURL: first.url }).training(running.worker_training_id)
  t.equal(onWorker.state, 'cancelled', 'the worker cancelled the training')
  t.equal((await new WorkerClient({ baseURL: first.url }).adapter(id).catch((e) => e)).status, 404, 'and saved no adapter')
  t.equal(done.adapter_id, null)
  t.same(await states(id), ['queued', 'dispatched', 'running', 'cancelled'])
})

t.test('restart the service mid-job: the job is reconciled and finishes once', async (t) => {
  const id = await create(app, longJob({ name: 'survives-restart' }))
  await midRun(app, id)
  await app.close()
  app = await trainingApp(tdb.url, tdb.db, first.url, { owner: 'faults-a', training: { leaseMs: 1_500 } })
  const done = await ended(app, id)
  t.equal(done.state, 'succeeded', done.error ?? '')
  t.equal(done.attempts, 1, 'it ran once: the restart lost nothing and started nothing again')
  t.same(await states(id), ['queued', 'dispatched', 'running', 'succeeded'])
  const takeovers = await tdb.db.selectFrom('training_job_events').select('message').where('job_id', '=', id).where('type', '=', 'takeover').execute()
  t.equal(takeovers.length, 1, 'the restarted service took the job back')
  const steps = (await tdb.db.selectFrom('training_job_events').select('data').where('job_id', '=', id).where('type', '=', 'loss').execute()).map((e) => (e.data as { step: number }).step)
  t.equal(new Set(steps).size, steps.length, 'no loss point recorded twice')
  t.equal(steps.length, done.progress.total, 'and none missing')
})

t.test('kill the worker mid-job: the job is requeued at once and finishes on a new worker', async (t) => {
  // a minute's lease: a worker that is gone must not be waited for (it was, for the whole lease)
  await app.close()
  app = await trainingApp(tdb.url, tdb.db, first.url, { owner: 'faults-a', training: { leaseMs: 60_000 } })
  const id = await create(app, longJob({ name: 'survives-sigkill' }))
  await midRun(app, id)
  await first.stop('SIGKILL')
  const killed = Date.now()
  const requeued = await until('the job to be requeued', async () => {
    const j = await job(app, id)
    return j.state === 'queued' ? j : null
  })
  const waitedMs = Date.now() - killed
  t.ok(waitedMs < 10_000, `requeued ${waitedMs} ms after the kill, not after the 60 s lease`)
  t.equal(requeued.attempts, 1, 'the lost attempt counts')
  t.match(requeued.error, /worker default is gone \(nothing listens at/)
  const dead = (await app.inject({ url: '/workers?status=down', headers: auth })).json().data
  t.ok(dead.some((w: { name: string }) => w.name === 'default'), 'the dead worker is down')

  const second = secondWorker!
  const reg = await app.inject({ method: 'POST', url: '/workers', headers: auth, payload: { name: 'second', url: second.url, labels: { gpu: 'none' } } })
  t.equal(reg.statusCode, 201, reg.body)
  t.match(reg.json(), { status: 'up', model: 'tiny-qwen2', source: 'api', labels: { gpu: 'none' } })
  const done = await ended(app, id)
  t.equal(done.state, 'succeeded', done.error ?? '')
  t.equal(done.attempts, 2)
  t.equal(done.worker_id, reg.json().id)
  t.same(await states(id), ['queued', 'dispatched', 'running', 'queued', 'dispatched', 'running', 'succeeded'])
  const adapter = (await app.inject({ url: `/adapters/${done.adapter_id}`, headers: auth })).json()
  t.equal(adapter.location.worker_url, second.url)
  t.equal(adapter.manifest.training_id, `${id}-a2`)
})

t.test('a worker restarted mid-job lost the training: requeued; past max_attempts it fails with the reason', async (t) => {
  // a lease long enough to outlast the restart, so the restarted worker answers "unknown training"
  await app.close()
  app = await trainingApp(tdb.url, tdb.db, first.url, { owner: 'faults-b', training: { leaseMs: 60_000 } })
  const second = secondWorker!
  const id = await create(app, longJob({ name: 'one-try', max_attempts: 1 }))
  await midRun(app, id)
  await second.stop('SIGKILL')
  await launch(second.port)
  const done = await ended(app, id)
  t.equal(done.state, 'failed')
  // the dispatcher finds the port closed while the worker restarts, or the restarted worker without the training
  t.match(done.error, /gave up after 1 attempts; last: worker second (no longer has training .*-a1 \(it restarted\)|is gone)/)
  t.same(await states(id), ['queued', 'dispatched', 'running', 'failed'])

  const resumed = await app.inject({ method: 'POST', url: `/training-jobs/${id}/resume`, headers: auth })
  t.equal(resumed.statusCode, 202)
  const again = await ended(app, id)
  t.equal(again.state, 'succeeded', `resumed, it trains again on the restarted worker: ${again.error ?? ''}`)
  t.equal(again.attempts, 1, 'attempts start again from zero')
  t.equal(again.worker_training_id, `${id}-a2`, 'under a training id never used before')
})
