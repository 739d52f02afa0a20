// Text Postgres cannot hold (NUL, lone surrogates) and bytes that are not UTF-8 are refused with a
// 400 naming the field, in every service, and nothing is written. Before, these were 500s (NUL) or
// stored as U+FFFD (invalid UTF-8).
import { connect } from 'node:net'
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { buildApp as evaluation } from '@sys2ft/evaluation'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const cfg = testConfig(tdb.url)
const apps = {
  generation: await generation(cfg, { db: tdb.db, logger: false }),
  training: await training(cfg, { db: tdb.db, logger: false }),
  evaluation: await evaluation(cfg, { db: tdb.db, logger: false }),
}
t.teardown(() => Promise.all(Object.values(apps).map((a) => a.close())))

const words = Array.from({ length: 70 }, (_, i) => `w${i}`).join(' ')
const newsItem = (title: string) => ({
  id: 'nul-1', domain: 'events', title, date: '2026-02-02', text: words,
  questions: [{ id: 'nul-1-q1', type: 'recall', question: 'What?', options: ['a', 'b', 'c', 'd'], answer_index: 0, explanation: '' }],
})
const rowCounts = async () => {
  const count = async (table: 'news_sets' | 'eval_runs' | 'experiments' | 'workers' | 'training_jobs') =>
    Number((await tdb.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
  return { sets: await count('news_sets'), runs: await count('eval_runs'), experiments: await count('experiments'), workers: await count('workers'), jobs: await count('training_jobs') }
}
const before = await rowCounts()

type Case = { service: keyof typeof apps; method: 'GET' | 'POST'; url: string; payload?: unknown; field: string }
const nulCases: Case[] = [
  { service: 'generation', method: 'GET', url: '/news-sets?after=%00', field: '/querystring/after' },
  { service: 'generation', method: 'GET', url: '/generation-runs?set_id=%00x', field: '/querystring/set_id' },
  { service: 'evaluation', method: 'GET', url: '/eval-runs?model=%00', field: '/querystring/model' },
  { service: 'training', method: 'GET', url: '/training-jobs?base_model=%00', field: '/querystring/base_model' },
  { service: 'generation', method: 'GET', url: '/news-sets/set_%00', field: '/params/id' },
  { service: 'generation', method: 'POST', url: '/news-sets', payload: { name: 'nul', items: [newsItem('A\u0000title')] }, field: '/items/0/title' },
  { service: 'evaluation', method: 'POST', url: '/eval-runs', payload: { set_id: 'set_x', model: 'm', mode: 'base', filter: { item_keys: ['\u0000'] } }, field: '/filter/item_keys/0' },
  { service: 'evaluation', method: 'POST', url: '/experiments', payload: { name: 'exp\u0000', set_id: 'set_x' }, field: '/name' },
  { service: 'training', method: 'POST', url: '/workers', payload: { url: 'http://127.0.0.1:9', labels: { gpu: 'H2\u000000' } }, field: '/labels/gpu' },
  { service: 'training', method: 'POST', url: '/workers', payload: { url: 'http://127.0.0.1:9', labels: { 'g\u0000': 'x' } }, field: '/labels/g\\u0000' },
  { service: 'evaluation', method: 'POST', url: '/experiments', payload: { name: 'lone \ud800 surrogate', set_id: 'set_x' }, field: '/name' },
]

for (const c of nulCases) {
  t.test(`${c.method} ${c.service} ${c.url} → 400 naming ${c.field}`, async (t) => {
    const res = await apps[c.service].inject({ method: c.method, url: c.url, headers: auth, ...(c.payload ? { payload: c.payload } : {}) })
    t.equal(res.statusCode, 400, res.body)
    t.match(res.headers['content-type'], /application\/problem\+json/)
    t.equal(res.json().code, 'validation_failed')
    t.ok(res.json().errors.some((e: { path: string }) => e.path === c.field), `names ${c.field}: ${res.body}`)
  })
}

t.test('a JSONL news line with an escaped NUL is refused at its line and field', async (t) => {
  const line = JSON.stringify(newsItem('A\u0000title'))
  t.match(line, /\\u0000/, 'the upload holds the escape, not a NUL byte')
  const res = await apps.generation.inject({ method: 'POST', url: '/news-sets?name=nul-jsonl', headers: { ...auth, 'content-type': 'application/x-ndjson' }, payload: line })
  t.equal(res.statusCode, 400, res.body)
  t.match(res.json().errors, [{ line: 1, path: '/title', message: /NUL/ }])
})

t.test('bytes that are not UTF-8 are refused, not stored as U+FFFD', async (t) => {
  const bad = Buffer.concat([Buffer.from(JSON.stringify({ name: 'utf8', items: [newsItem('caf')] }).replace('"caf"', '"caf')), Buffer.from([0xc3, 0x28]), Buffer.from('"' + JSON.stringify({}).slice(1))])
  // the body above is broken JSON after the bad bytes too; the UTF-8 check must come first
  const json = await apps.generation.inject({ method: 'POST', url: '/news-sets', headers: { ...auth, 'content-type': 'application/json' }, payload: bad })
  t.equal(json.statusCode, 400, json.body)
  t.equal(json.json().code, 'invalid_utf8')
  t.match(json.json().detail, /offset \d+/)

  const wellFormed = Buffer.from(JSON.stringify({ name: 'utf8', items: [newsItem('cafXX')] }))
  const at = wellFormed.indexOf('cafXX') + 3
  wellFormed[at] = 0xc3
  wellFormed[at + 1] = 0x28
  const again = await apps.generation.inject({ method: 'POST', url: '/news-sets', headers: { ...auth, 'content-type': 'application/json' }, payload: wellFormed })
  t.equal(again.statusCode, 400)
  t.equal(again.json().code, 'invalid_utf8')
  t.match(again.json().detail, new RegExp(`offset ${at}\\b`), 'the first bad byte is located')

  const jsonl = Buffer.concat([Buffer.from(JSON.stringify(newsItem('cafXX')).replace('cafXX', 'caf')), Buffer.from([0xc3, 0x28])])
  const nd = await apps.generation.inject({ method: 'POST', url: '/news-sets?name=utf8-jsonl', headers: { ...auth, 'content-type': 'application/x-ndjson' }, payload: jsonl })
  t.equal(nd.statusCode, 400)
  t.equal(nd.json().code, 'invalid_utf8')

  const query = await apps.evaluation.inject({ method: 'GET', url: '/eval-runs?model=%C3%28', headers: auth })
  t.equal(query.statusCode, 400)
  t.match(query.json().errors, [{ path: '/querystring/model', message: /UTF-8/ }])

  const fine = await apps.evaluation.inject({ method: 'GET', url: '/eval-runs?model=caf%C3%A9', headers: auth })
  t.equal(fine.statusCode, 200, 'well-formed UTF-8 passes')
})

t.test('nothing was written by any refused request', async (t) => {
  t.same(await rowCounts(), before)
})

t.test("errors Node's parser and the router raise are problem+json too", async (t) => {
  const app = apps.training
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const raw = (request: string) => new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    let data = ''
    socket.on('data', (d) => { data += d.toString() })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
  const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(big, /^HTTP\/1\.1 431 /)
  t.match(big, /content-type: application\/problem\+json/i)
  t.match(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4)), { status: 431, code: 'headers_too_large' })

  const badUrl = await app.inject({ method: 'GET', url: '/training-jobs/%E0%A4%A', headers: auth })
  t.equal(badUrl.statusCode, 400)
  t.match(badUrl.headers['content-type'], /application\/problem\+json/)
  t.equal(badUrl.json().code, 'bad_request')
})
