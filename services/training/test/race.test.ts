// Two dispatcher instances (two apps on one database) racing over 20 one-step jobs and three real
// workers: every job is assigned once, to one worker, and no worker ever trains two jobs at once.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { startWorker } from '@sys2ft/worker-client/testing'
import { auth, newsSet, tiny, trainingApp, until } from './helpers.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const workers = await Promise.all([startWorker(), startWorker(), startWorker()])
t.teardown(() => Promise.all(workers.map((w) => w.stop())))
const pool = workers.map((w, i) => ({ name: `w${i}`, url: w.url }))
// the same pool configured on both instances; polls fast and leases short so the instances contend
const apps = await Promise.all(['race-a', 'race-b'].map((owner) => trainingApp(tdb.url, tdb.db, workers[0]!.url, { owner, training: { workers: pool, pollMs: 20, leaseMs: 2_000 } })))
t.teardown(() => Promise.all(apps.map((a) => a.close())))

t.test('20 jobs, 2 dispatchers, 3 workers: never double-assigned', async (t) => {
  const news = await newsSet(tdb.db, 20)
  const ids = await Promise.all(
    news.items.map(async (it, i) => {
      const res = await apps[i % 2]!.inject({ method: 'POST', url: '/training-jobs', headers: auth, payload: { base_model: 'tiny-qwen2', data: [{ news_set_id: news.setId, item_keys: [it.key] }], hyperparameters: tiny } })
      if (res.statusCode !== 202) throw new Error(res.body)
      return res.json().id as string
    }),
  )
  await until('all 20 jobs to end', async () => {
    const open = await tdb.db.selectFrom('training_jobs').select('id').where('state', 'not in', ['succeeded', 'failed', 'cancelled']).execute()
    return open.length === 0
  }, 120_000)

  const jobs = await tdb.db.selectFrom('training_jobs').selectAll().execute()
  t.equal(jobs.length, 20)
  t.same(jobs.filter((j) => j.state !== 'succeeded').map((j) => [j.id, j.state, j.error]), [], 'every job succeeded')
  t.ok(jobs.every((j) => j.attempts === 1), 'each in one attempt')

  const events = await tdb.db.selectFrom('training_job_events').select(['job_id', 'state', 'data']).where('type', '=', 'state').orderBy('id').execute()
  for (const id of ids) {
    t.same(events.filter((e) => e.job_id === id).map((e) => e.state), ['queued', 'dispatched', 'running', 'succeeded'], `${id}: dispatched once, never requeued`)
  }
  const owners = events.filter((e) => e.state === 'dispatched').map((e) => (e.data as { owner: string }).owner)
  t.comment(`claims: race-a ${owners.filter((o) => o === 'race-a').length}, race-b ${owners.filter((o) => o === 'race-b').length}`)

  const adapters = await tdb.db.selectFrom('adapters').select(['job_id', 'worker_id']).execute()
  t.equal(new Set(adapters.map((a) => a.job_id)).size, 20, 'one adapter per job')

  // the workers' own records: each training once, and on each worker one at a time
  const trained = new Map<string, number>()
  for (const w of workers) {
    const list = (await new WorkerClient({ baseURL: w.url }).trainings()).data.sort((a, b) => a.started_at!.localeCompare(b.started_at!))
    for (const tr of list) trained.set(tr.id, (trained.get(tr.id) ?? 0) + 1)
    for (let i = 1; i < list.length; i++) t.ok(list[i]!.started_at! >= list[i - 1]!.finished_at!, `${w.url}: ${list[i]!.id} started after ${list[i - 1]!.id} ended`)
    t.ok(list.every((tr) => tr.state === 'succeeded'))
  }
  t.equal(trained.size, 20, '20 trainings on the workers in all')
  t.ok([...trained.values()].every((n) => n === 1), 'none trained twice')
  t.same([...trained.keys()].sort(), ids.map((id) => `${id}-a1`).sort())
  const used = new Set(adapters.map((a) => a.worker_id))
  t.comment(`workers used: ${used.size}`)
})
