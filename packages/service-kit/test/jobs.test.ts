import t from 'tap'
import { createDb } from '@sys2ft/db'
import { createTestDatabase, outageProxy } from '@sys2ft/db/testing'
import { JobRunner, RetryableError, listEvents, requestCancel, type JobContext } from '../src/index.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const db = tdb.db
await db.insertInto('news_sets').values({ id: 'ns_jobs', name: 'jobs', description: '', kind: 'news', version: '1', builtin: false, item_count: 0, question_count: 0, content_sha256: 'x' }).execute()

let n = 0
async function makeRuns(count: number, extra: Record<string, unknown> = {}): Promise<string[]> {
  const ids = Array.from({ length: count }, () => `gen_${String(++n).padStart(32, '0')}`)
  await db.insertInto('generation_runs').values(ids.map((id) => ({ id, set_id: 'ns_jobs', protocol: 'naive', options: '{}', provenance: '{}', ...extra }))).execute()
  return ids
}
const state = async (id: string) => (await db.selectFrom('generation_runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow())
async function until(cond: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}
type Extra = Partial<{ leaseMs: number; pollMs: number; concurrency: number; unavailableGraceMs: number; retryBaseMs: number; db: typeof db }>
// what the runners warned of: expected during the outage tests, kept out of the test output
const warnings: string[] = []
const runner = (owner: string, run: (job: { id: string }, ctx: JobContext) => Promise<void>, extra: Extra = {}) =>
  new JobRunner({ db, table: 'generation_runs', owner, run, pollMs: 20, retryBaseMs: 20, log: { info: () => {}, warn: (o, m) => warnings.push(m), error: (o, m) => console.error(m, o) }, ...extra })

t.test('a job runs once, succeeds, and every state change is an event', async (t) => {
  const [id] = await makeRuns(1)
  const r = runner('a', async (_job, ctx) => ctx.update({ progress_done: 3, progress_total: 3 }))
  await r.start()
  await until(async () => (await state(id!)).state === 'succeeded')
  await r.stop()
  const row = await state(id!)
  t.match(row, { attempts: 1, progress_done: 3, lease_owner: null })
  t.ok(row.finished_at && row.started_at)
  t.same((await listEvents(db, 'generation_runs', id!)).map((e) => e.state), ['running', 'succeeded'])
})

t.test('a retryable failure requeues; past max_attempts the job fails with the reason', async (t) => {
  const [flaky, broken] = await makeRuns(2)
  const tries = new Map<string, number>()
  const r = runner('b', async (job) => {
    const k = (tries.get(job.id) ?? 0) + 1
    tries.set(job.id, k)
    if (job.id === flaky && k === 1) throw new RetryableError('worker unreachable')
    if (job.id === broken) throw new RetryableError('still unreachable')
  })
  await r.start()
  await until(async () => (await state(flaky!)).state === 'succeeded' && (await state(broken!)).state === 'failed')
  await r.stop()
  t.equal(tries.get(flaky!), 2)
  t.equal(tries.get(broken!), 3, 'three attempts, then failed')
  t.match((await state(broken!)).error, /still unreachable/)
  t.same((await listEvents(db, 'generation_runs', flaky!)).map((e) => e.state), ['running', 'queued', 'running', 'succeeded'])
})

t.test('cancel: a queued job at once, a running one at its next lease renewal', async (t) => {
  const [queued] = await makeRuns(1)
  t.equal(await requestCancel(db, 'generation_runs', queued!, { what: 'run' }), 'cancelled')
  t.equal(await requestCancel(db, 'generation_runs', queued!, { what: 'run' }), 'cancelled', 'a cancelled job cancelled again stays as it is')
  const [running] = await makeRuns(1)
  let sawAbort = false
  const r = runner('c', async (_job, ctx) => {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()))
    sawAbort = ctx.reason() === 'cancelled'
  })
  await r.start()
  await until(async () => (await state(running!)).state === 'running')
  t.equal(await requestCancel(db, 'generation_runs', running!, { what: 'run' }), 'running')
  t.equal(await requestCancel(db, 'generation_runs', running!, { what: 'run' }), 'running', 'asked twice')
  await until(async () => (await state(running!)).state === 'cancelled')
  await r.stop()
  t.ok(sawAbort, 'the job saw the abort with reason cancelled')
  t.equal((await state(queued!)).state, 'cancelled', 'the queued job never ran')
  const asks = (await listEvents(db, 'generation_runs', running!)).filter((e) => e.type === 'cancel_requested')
  t.equal(asks.length, 1, 'one cancel_requested event however often it was asked')
  await t.rejects(requestCancel(db, 'generation_runs', 'gen_missing', { what: 'run' }), { status: 404, code: 'not_found' })
})

t.test('cancel: a finished job is a 409, and stays as it was', async (t) => {
  const [done] = await makeRuns(1)
  const r = runner('f', async () => {})
  await r.start()
  await until(async () => (await state(done!)).state === 'succeeded')
  await r.stop()
  await t.rejects(requestCancel(db, 'generation_runs', done!, { what: 'run' }), { status: 409, code: 'conflict', message: /already succeeded/ })
  t.equal((await state(done!)).state, 'succeeded')
})

t.test('two runners racing on 20 jobs never run one twice', async (t) => {
  const ids = await makeRuns(20)
  const runs = new Map<string, string[]>()
  const work = (owner: string) => async (job: { id: string }) => {
    runs.set(job.id, [...(runs.get(job.id) ?? []), owner])
    await new Promise((r) => setTimeout(r, 5))
  }
  const a = runner('race-a', work('race-a'), { concurrency: 3 })
  const b = runner('race-b', work('race-b'), { concurrency: 3 })
  await Promise.all([a.start(), b.start()])
  await until(async () => (await db.selectFrom('generation_runs').select('id').where('id', 'in', ids).where('state', '=', 'succeeded').execute()).length === 20)
  await Promise.all([a.stop(), b.stop()])
  t.equal(runs.size, 20)
  t.ok([...runs.values()].every((owners) => owners.length === 1), 'each job ran exactly once')
  const rows = await db.selectFrom('generation_runs').select(['attempts']).where('id', 'in', ids).execute()
  t.ok(rows.every((r) => r.attempts === 1))
  t.ok(new Set([...runs.values()].flat()).size === 2, 'both runners took work')
})

t.test('a dead runner’s job is taken over after its lease expires; a stopping runner requeues', async (t) => {
  const [id] = await makeRuns(1)
  // a runner that "dies": it claims, then never renews (we stop its timer without requeueing by faking the lease)
  await db.updateTable('generation_runs').set({ state: 'running', lease_owner: 'dead', lease_expires_at: new Date(Date.now() - 1000), attempts: 1 }).where('id', '=', id!).execute()
  const r = runner('heir', async () => {})
  await r.start()
  await until(async () => (await state(id!)).state === 'succeeded')
  await r.stop()
  t.equal((await state(id!)).attempts, 2, 'the takeover counts an attempt')

  const [long] = await makeRuns(1)
  const s = runner('stopper', (_job, ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())))
  await s.start()
  await until(async () => (await state(long!)).state === 'running')
  await s.stop()
  t.match(await state(long!), { state: 'queued', lease_owner: null }, 'stopping puts the job back in the queue')

  // the same owner restarting takes back what it held at once (no lease wait)
  await db.updateTable('generation_runs').set({ state: 'running', lease_owner: 'restarter', lease_expires_at: new Date(Date.now() + 60_000) }).where('id', '=', long!).execute()
  const again = runner('restarter', async () => {})
  await again.start()
  await until(async () => (await state(long!)).state === 'succeeded')
  await again.stop()
  t.pass('a restarted owner resumed its job immediately')
})

t.test('a runner that lost its lease cannot finish the new owner’s job', async (t) => {
  const [id] = await makeRuns(1)
  let releaseA!: () => void
  // A claims, then stalls without renewing (as if paused past its lease): it polls once a minute
  const a = runner('stalled', () => new Promise<void>((r) => { releaseA = r }), { leaseMs: 200, pollMs: 60_000 })
  await a.start()
  await until(async () => (await state(id!)).lease_owner === 'stalled')
  let releaseB!: () => void
  const b = runner('heir-b', () => new Promise<void>((r) => { releaseB = r }), { leaseMs: 5_000 })
  await b.start()
  await until(async () => (await state(id!)).lease_owner === 'heir-b')
  releaseA() // A's run returns: it must not mark B's job succeeded
  await new Promise((r) => setTimeout(r, 200))
  t.match(await state(id!), { state: 'running', lease_owner: 'heir-b' }, 'still B’s, still running')
  releaseB()
  await until(async () => (await state(id!)).state === 'succeeded')
  await Promise.all([a.stop(), b.stop()])
  const states = (await listEvents(db, 'generation_runs', id!)).map((e) => e.state)
  t.equal(states.filter((s) => s === 'succeeded').length, 1, 'one terminal event, from the owner')
})

t.test('an unreachable dependency: backoff, no attempt counted within the grace; past it, attempts count', async (t) => {
  const [restart] = await makeRuns(1)
  const calls: number[] = []
  const r = runner('waiter', async (job) => {
    if (job.id === restart) {
      calls.push(Date.now())
      if (calls.length <= 3) throw new RetryableError('worker unreachable (ECONNREFUSED)', { unavailable: true })
    }
  }, { unavailableGraceMs: 60_000, retryBaseMs: 100 })
  await r.start()
  await until(async () => (await state(restart!)).state === 'succeeded')
  await r.stop()
  t.equal((await state(restart!)).attempts, 1, 'a worker restart burns no attempt')
  const gaps = calls.slice(1).map((c, i) => c - calls[i]!)
  t.ok(gaps.every((g) => g >= 70), `each retry waited its backoff (${gaps.join(', ')} ms)`)
  const waits = (await listEvents(db, 'generation_runs', restart!)).filter((e) => e.state === 'queued')
  t.equal(waits.length, 3)
  t.ok(waits.every((e) => /no attempt counted/.test(e.message)), waits.map((e) => e.message).join(' | '))

  const [down] = await makeRuns(1)
  const strict = runner('strict', async () => { throw new RetryableError('worker unreachable', { unavailable: true }) }, { unavailableGraceMs: 0 })
  await strict.start()
  await until(async () => (await state(down!)).state === 'failed')
  await strict.stop()
  t.match(await state(down!), { attempts: 3, error: /gave up after 3 attempts: worker unreachable/ })
})

t.test('a database outage mid-job: the runner rides it out and the job finishes once, no attempt lost', async (t) => {
  const proxy = await outageProxy(tdb.url)
  const viaProxy = createDb({ url: proxy.url, poolMax: 3, statementTimeoutMs: 5_000 })
  t.teardown(async () => { await viaProxy.destroy(); await proxy.close() })
  const [id] = await makeRuns(1)
  let steps = 0
  let cut = false
  const r = runner('outage', async (_job, ctx) => {
    for (; steps < 6; steps++) {
      if (steps === 2 && !cut) {
        cut = true
        proxy.cut()
        setTimeout(() => proxy.restore(), 1_500)
      }
      await ctx.update({ progress_done: steps + 1, progress_total: 6 })
    }
  }, { db: viaProxy, leaseMs: 10_000 })
  await r.start()
  await until(async () => (await state(id!)).state === 'succeeded', 30_000)
  await r.stop()
  const row = await state(id!)
  t.match(row, { state: 'succeeded', progress_done: 6, attempts: 1 }, 'finished, its attempt given back for the outage')
  const events = await listEvents(db, 'generation_runs', id!)
  t.same(events.map((e) => e.state), ['running', 'queued', 'running', 'succeeded'])
  t.match(events[1]!.message, /no attempt counted/)
  t.ok(warnings.includes('job poll failed'), 'the outage was logged as a warning')
})
