import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp } from '../src/app.ts'
import { seedBuiltinSets } from '../src/domain/news-sets.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const app = await buildApp(testConfig(tdb.url), { db: tdb.db, logger: false })
t.teardown(() => app.close())

const item = (n: number, overrides: Record<string, unknown> = {}) => ({
  id: `my-${n}`,
  domain: 'mathematics',
  title: `Item ${n}`,
  date: '2026-05-01',
  text: 'Mathematicians define the knot sum a ⊕ b = a·b + a − b for integers.',
  check: { defs: ['ks(a, b) = a * b + a - b'] },
  questions: [
    { id: `my-${n}-q1`, type: 'implication', question: 'What is 4 ⊕ 7?', options: ['25', '28', '11', '31'], answer_index: 0, answer_text: '25', explanation: '4·7+4−7', check: { expr: 'ks(4, 7)' } },
    { id: `my-${n}-q2`, type: 'recall', question: 'Who defined it?', options: ['Mathematicians', 'Physicists', 'Chemists', 'Poets'], answer_index: 0, answer_text: 'Mathematicians', explanation: '' },
  ],
  ...overrides,
})

const counts = async () => ({
  sets: Number((await tdb.db.selectFrom('news_sets').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
  items: Number((await tdb.db.selectFrom('news_items').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
  questions: Number((await tdb.db.selectFrom('questions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
})

t.test('bad input answers 400 problem+json naming the field, and stores nothing', async (t) => {
  const before = await counts()
  const post = (payload: string | object, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url: '/news-sets', headers: { ...auth, 'content-type': 'application/json', ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })

  const malformed = await post('{"name": "x", "items": [')
  t.equal(malformed.statusCode, 400)
  t.match(malformed.headers['content-type'], /application\/problem\+json/)
  t.match(malformed.json(), { code: 'invalid_json', status: 400 })

  const unknown = await post({ name: 'x', items: [item(1)], colour: 'blue' })
  t.equal(unknown.statusCode, 400)
  t.match(unknown.json(), { code: 'validation_failed' })
  t.ok(unknown.json().errors.some((e: { path: string }) => e.path === '/colour'), 'the unknown field is named')

  const wrongTypes = await post({ name: 42, version: 3, items: 'nope' })
  t.equal(wrongTypes.statusCode, 400)
  const paths = wrongTypes.json().errors.map((e: { path: string }) => e.path)
  t.ok(['/name', '/version', '/items'].every((p) => paths.includes(p)), `every failing field named: ${paths.join(', ')}`)

  const badLines = await post({
    name: 'bad-set',
    items: [
      item(1),
      item(2, { domain: 'astrology' }),
      item(3, { questions: [{ ...item(3).questions[0], answer_index: 1 }] }),
      item(1, { title: 'same id again' }),
    ],
  })
  t.equal(badLines.statusCode, 400)
  const body = badLines.json()
  t.match(body.detail, /on 3 line\(s\) \(2, 3, 4\); nothing was stored/)
  t.ok(body.errors.some((e: { path: string; line: number }) => e.line === 2 && e.path === '/items/1/domain'), 'line 2: the unknown domain')
  t.ok(body.errors.some((e: { path: string; line: number }) => e.line === 3 && e.path === '/items/2/questions/0/answer_text'), 'line 3: answer_text does not match answer_index')
  t.ok(body.errors.some((e: { path: string; line: number }) => e.line === 4 && e.path === '/items/3/id'), 'line 4: the duplicate id')

  const jsonl = [JSON.stringify(item(1)), '{not json', JSON.stringify(item(2, { questions: [] }))].join('\n')
  const badJsonl = await app.inject({ method: 'POST', url: '/news-sets?name=jsonl-set', headers: { ...auth, 'content-type': 'application/x-ndjson' }, payload: jsonl })
  t.equal(badJsonl.statusCode, 400)
  t.same([...new Set(badJsonl.json().errors.map((e: { line: number }) => e.line))], [2, 3], 'the bad JSONL lines are named')

  const noName = await app.inject({ method: 'POST', url: '/news-sets', headers: { ...auth, 'content-type': 'application/x-ndjson' }, payload: JSON.stringify(item(1)) })
  t.equal(noName.statusCode, 400)
  t.equal(noName.json().errors[0].path, '/querystring/name')

  t.same(await counts(), before, 'nothing was stored by any of these')
})

t.test('import, read, page and export a set; JSONL round-trips', async (t) => {
  const items = [item(1), item(2, { domain: 'coding' }), item(3)]
  const res = await app.inject({ method: 'POST', url: '/news-sets', headers: auth, payload: { name: 'mine', description: 'three items', items } })
  t.equal(res.statusCode, 201)
  const { set, warnings } = res.json()
  t.match(set.id, /^ns_[0-9a-f]{32}$/)
  t.equal(res.headers.location, `/news-sets/${set.id}`)
  t.match(set, { name: 'mine', kind: 'news', builtin: false, item_count: 3, question_count: 6, domains: { coding: 1, mathematics: 2 } })
  t.ok(warnings.some((w: { path: string }) => w.path === '/questions'), 'quality rules of the shipped set come back as warnings')

  const got = await app.inject({ url: `/news-sets/${set.id}`, headers: auth })
  t.same(got.json(), set)
  t.equal((await app.inject({ url: '/news-sets/ns_00000000000000000000000000000000', headers: auth })).statusCode, 404)
  const wrongPrefix = await app.inject({ url: '/news-sets/job_123', headers: auth })
  t.equal(wrongPrefix.statusCode, 404, 'a wrong-prefix id is a 404, not a 500')

  const page1 = (await app.inject({ url: `/news-sets/${set.id}/items?limit=2`, headers: auth })).json()
  t.equal(page1.data.length, 2)
  t.equal(page1.has_more, true)
  const page2 = (await app.inject({ url: `/news-sets/${set.id}/items?limit=2&after=${page1.next_cursor}`, headers: auth })).json()
  t.same(page2.data.map((i: { id: string }) => i.id), ['my-3'])
  t.equal(page2.has_more, false)
  const coding = (await app.inject({ url: `/news-sets/${set.id}/items?domain=coding`, headers: auth })).json()
  t.same(coding.data.map((i: { id: string }) => i.id), ['my-2'])

  const exported = await app.inject({ url: `/news-sets/${set.id}/export`, headers: auth })
  t.match(exported.headers['content-type'], /application\/x-ndjson/)
  const lines = exported.body.trim().split('\n').map((l) => JSON.parse(l))
  t.same(lines, items, 'export equals what was imported')

  const again = await app.inject({ method: 'POST', url: '/news-sets?name=mine-copy', headers: { ...auth, 'content-type': 'application/x-ndjson' }, payload: exported.body })
  t.equal(again.statusCode, 201, 'the export imports as JSONL')
  t.equal(again.json().set.content_sha256, set.content_sha256, 'same content, same hash')

  const dup = await app.inject({ method: 'POST', url: '/news-sets', headers: auth, payload: { name: 'mine', items } })
  t.equal(dup.statusCode, 409)
  t.equal(dup.json().code, 'conflict')

  const del = await app.inject({ method: 'DELETE', url: `/news-sets/${set.id}`, headers: auth })
  t.equal(del.statusCode, 204)
  t.equal((await app.inject({ url: `/news-sets/${set.id}`, headers: auth })).statusCode, 404)
  const left = await tdb.db.selectFrom('questions').select('id').where('set_id', '=', set.id).execute()
  t.equal(left.length, 0, 'questions go with their set')
})

t.test('a 225-question set without answer_text and with q1…q5 in every item imports as JSONL', async (t) => {
  const options = [['25', '28', '11', '31'], ['Mathematicians', 'Physicists', 'Chemists', 'Poets']]
  const lines = Array.from({ length: 45 }, (_, n) => {
    const it = item(n + 100)
    const questions = [0, 1, 2, 3, 4].map((j) => ({ id: `q${j + 1}`, type: 'recall', question: `Question ${j + 1}?`, options: options[j % 2], answer_index: j % 4 === 3 ? 3 : 0 }))
    return JSON.stringify({ ...it, check: undefined, questions })
  })
  const res = await app.inject({ method: 'POST', url: '/news-sets?name=local-ids', headers: { ...auth, 'content-type': 'application/x-ndjson' }, payload: lines.join('\n') })
  t.equal(res.statusCode, 201, res.body.slice(0, 300))
  const { set, warnings } = res.json()
  t.equal(set.question_count, 225)
  t.match(warnings.filter((w: { path: string }) => w.path === 'question_ids'), [{ message: /q1 in 45 items.*e\.g\. my-100-q1/ }], 'one note for the whole set')
  const first = (await app.inject({ url: `/news-sets/${set.id}/items?limit=1`, headers: auth })).json().data[0]
  t.same(first.questions.map((x: { id: string }) => x.id), ['my-100-q1', 'my-100-q2', 'my-100-q3', 'my-100-q4', 'my-100-q5'], 'ids scoped to their item')
  t.same(first.questions.map((x: { answer_text: string }) => x.answer_text), ['25', 'Mathematicians', '25', 'Poets', '25'], 'answer_text derived from answer_index')
  const stored = await tdb.db.selectFrom('questions').select('key').where('set_id', '=', set.id).where('key', '=', 'my-144-q5').execute()
  t.equal(stored.length, 1, 'stored under the scoped key')
})

t.test('Idempotency-Key: a retried import returns the first answer instead of importing twice', async (t) => {
  const headers = { ...auth, 'idempotency-key': 'retry-1' }
  const payload = { name: 'idem', items: [item(1)] }
  const first = await app.inject({ method: 'POST', url: '/news-sets', headers, payload })
  const second = await app.inject({ method: 'POST', url: '/news-sets', headers, payload })
  t.equal(first.statusCode, 201)
  t.equal(second.statusCode, 201)
  t.equal(second.headers['idempotent-replayed'], 'true')
  t.same(second.json(), first.json())
  t.equal(second.headers.location, first.headers.location)
  const other = await app.inject({ method: 'POST', url: '/news-sets', headers, payload: { ...payload, name: 'idem-2' } })
  t.equal(other.statusCode, 422, 'the same key with another body is refused')
  t.equal(other.json().code, 'idempotency_key_reused')
  const sets = await tdb.db.selectFrom('news_sets').select('id').where('name', 'like', 'idem%').execute()
  t.equal(sets.length, 1)
})

t.test('the shipped sets seed once, are listed and are read-only', async (t) => {
  const [a, b] = await Promise.all([seedBuiltinSets(tdb.db), seedBuiltinSets(tdb.db)])
  t.equal(a.created.length + b.created.length, 2, 'two processes seeding at once create each set once')
  t.same((await seedBuiltinSets(tdb.db)).created, [], 'seeding again creates nothing')
  const list = (await app.inject({ url: '/news-sets?builtin=true', headers: auth })).json()
  t.equal(list.data.length, 2)
  const news = list.data.find((s: { kind: string }) => s.kind === 'news')
  const control = list.data.find((s: { kind: string }) => s.kind === 'control')
  t.ok(news.item_count >= 20, `the New News set has ${news.item_count} items`)
  t.equal(news.question_count, news.item_count * 5)
  t.ok(control.question_count >= 100, `the control set has ${control.question_count} questions`)
  const del = await app.inject({ method: 'DELETE', url: `/news-sets/${news.id}`, headers: auth })
  t.equal(del.statusCode, 409)
  t.equal(del.json().code, 'read_only')
  const exported = await app.inject({ url: `/news-sets/${control.id}/export`, headers: auth })
  t.equal(exported.body.trim().split('\n').length, control.question_count)
})
