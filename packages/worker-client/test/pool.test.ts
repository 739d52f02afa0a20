// WorkerPool: which member a call goes to, and what happens when one cannot be reached (no model:
// fake members are local HTTP servers, a dead one a closed port).
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { WorkerError, WorkerPool, aliveActors, forEachConcurrently, type PoolMember, type RayPoolView } from '../src/index.ts'
import { freePort } from '../src/testing.ts'

const members = (n: number): PoolMember[] => Array.from({ length: n }, (_, i) => ({ name: `w${i}`, url: `http://127.0.0.1:${9000 + i}` }))
const refused = () => new WorkerError('unreachable (ECONNREFUSED)', null, 'worker_unavailable', undefined, 'ECONNREFUSED')

t.test('pick: the member with the fewest calls in flight, ties in turn; dead ones only when nothing else is left', async (t) => {
  const ms = members(3)
  const pool = new WorkerPool({ source: async () => ms })
  const seen = [0, 1, 2, 3, 4, 5].map(() => pool.pick(ms)!.name)
  t.same(new Set(seen), new Set(['w0', 'w1', 'w2']), 'idle members in turn')
  pool.markDead(ms[1]!.url)
  for (let i = 0; i < 6; i++) t.not(pool.pick(ms)!.name, 'w1', 'a dead member is left out')
  t.equal(pool.pick(ms, new Set([ms[0]!.url, ms[2]!.url]))!.name, 'w1', 'but tried when every other was tried already')
  t.equal(pool.pick(ms, new Set(ms.map((m) => m.url))), undefined, 'none left')
  const later = new Set([0, 1, 2, 3, 4, 5].map(() => pool.pick(ms, new Set(), Date.now() + 60_000)!.name))
  t.ok(later.has('w1'), 'after deadMs it is back')
})

t.test('call: a refused member is skipped and the same call goes to the next; other errors are thrown at once', async (t) => {
  const ms = members(3)
  const pool = new WorkerPool({ source: async () => ms, deadMs: 60_000 })
  const tried: string[] = []
  const r = await pool.call('req', async (_c, m) => {
    tried.push(m.name)
    if (tried.length < 3) throw refused()
    return 42
  })
  t.equal(r.value, 42)
  t.equal(tried.length, 3, 'every member tried once')
  t.equal(new Set(tried).size, 3)
  t.equal(r.member.name, tried[2])
  // the two refused ones are set aside: the next call goes to the one that answered
  t.equal((await pool.call('req', async (_c, m) => m.name)).value, tried[2])

  const bad = new WorkerError('400 bad', 400, 'validation_failed')
  let calls = 0
  await t.rejects(pool.call('req', async () => { calls++; throw bad }), bad, 'a worker’s own error is not retried elsewhere')
  t.equal(calls, 1)

  const all = new WorkerPool({ source: async () => ms })
  const last = refused()
  await t.rejects(all.call('req', async () => { throw last }), last, 'every member refused: the last error')
  const ac = new AbortController()
  ac.abort()
  let n = 0
  await t.rejects(all.call('req', async () => { n++; throw refused() }, ac.signal))
  t.equal(n, 1, 'an aborted call is not sent elsewhere')
})

t.test('single: one worker, concurrency 1, its error unchanged; an empty Ray pool is unavailable', async (t) => {
  const single = WorkerPool.single('http://127.0.0.1:1', undefined, { retries: 0 })
  t.equal(await single.concurrency(), 1)
  const err = await single.call('r', (c) => c.info()).catch((e: unknown) => e)
  t.ok(err instanceof WorkerError && err.refused, 'the refused error of the one worker')
  const empty = new WorkerPool({ source: async () => [], kind: 'ray' })
  t.equal(await empty.concurrency(), 1)
  const e2 = await empty.call('r', async () => 1).catch((e: unknown) => e)
  t.ok(e2 instanceof WorkerError && e2.unavailable, 'no member: unavailable (requeued, no attempt counted)')
})

t.test('the Ray launcher source: alive actors only, refreshed, the last list kept when the launcher does not answer', async (t) => {
  let actors: RayPoolView['actors'] = [
    { name: 'a0', slot: 0, url: 'http://10.0.0.1:1', state: 'alive', pid: 1, node_id: 'n', replacements: 0 },
    { name: 'a1', slot: 1, url: null, state: 'pending', pid: null, node_id: null, replacements: 0 },
  ]
  let up = true
  const srv: Server = createServer((req, res) => {
    if (!up) return res.destroy()
    if (req.headers.authorization !== 'Bearer k') return res.writeHead(401).end('{}')
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model: 'm', address: 'x', actors, cluster: {} }))
  })
  const port = await freePort()
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()))
  t.teardown(() => srv.close())
  const pool = WorkerPool.ray(`http://127.0.0.1:${port}`, 'k', undefined, 50)
  t.same((await pool.members()).map((m) => m.name), ['a0'])
  actors = [{ ...actors[0]!, state: 'dead' }, { ...actors[1]!, url: 'http://10.0.0.2:1', state: 'alive', pid: 2 }]
  await new Promise((r) => setTimeout(r, 60))
  t.same((await pool.members()).map((m) => m.name), ['a1'], 'refreshed')
  up = false
  await new Promise((r) => setTimeout(r, 60))
  t.same((await pool.members()).map((m) => m.name), ['a1'], 'kept while the launcher is away')
  t.same(aliveActors({ model: 'm', address: 'x', actors, cluster: { nodes: [], resources: {}, actors: { alive: 1, dead: 1, restarting: 0, pending: 0 } } }).map((m) => m.url), ['http://10.0.0.2:1'])
})

t.test('forEachConcurrently: at most n at once, in order; after a failure nothing new starts, then it is thrown', async (t) => {
  let running = 0
  let peak = 0
  const order: number[] = []
  await forEachConcurrently([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
    running++
    peak = Math.max(peak, running)
    order.push(x)
    await new Promise((r) => setTimeout(r, 5 + (x % 3)))
    running--
  })
  t.equal(peak, 3)
  t.same(order.slice(0, 3), [1, 2, 3])
  t.equal(order.length, 7)
  const started: number[] = []
  const boom = new Error('boom')
  await t.rejects(forEachConcurrently([1, 2, 3, 4, 5], 2, async (x) => {
    started.push(x)
    if (x === 2) throw boom
    await new Promise((r) => setTimeout(r, 20))
  }), boom)
  t.same(started, [1, 2], 'nothing started after the failure')
  const seq: number[] = []
  await forEachConcurrently([1, 2, 3], 1, async (x) => void seq.push(x))
  t.same(seq, [1, 2, 3], 'concurrency 1: a plain loop')
  const ac = new AbortController()
  const done: number[] = []
  await forEachConcurrently([1, 2, 3], 1, async (x) => {
    done.push(x)
    if (x === 1) ac.abort()
  }, ac.signal)
  t.same(done, [1], 'stops starting once aborted')
})
