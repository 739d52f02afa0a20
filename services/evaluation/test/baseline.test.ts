// A `baseline` widens what base and ICL ask beyond the trained news (the demo's recall questions of
// every news item). The spec is resolved against a real database and expanded into cells; nothing runs.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth } from '@sys2ft/service-kit/testing'
import { resolveSpec } from '../src/experiments/resolve.ts'
import { expandCells, type CellPlan } from '../src/experiments/cells.ts'
import { seedNewsSet, someNews, startService } from './fixtures.ts'

/** An evaluation cell's body (its type checked, so its fields are the eval-run schema's). */
const evalBody = (c: CellPlan | undefined) => {
  if (c?.kind !== 'evaluation') throw new Error(`not an evaluation cell: ${c?.key}`)
  return c.body
}

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const news = someNews(2) // 2 news items per domain, 5 questions each
const newsSet = await seedNewsSet(tdb.db, news)
const ctx = { defaultModel: async () => 'm' }
const questionsOf = (filter: (item: (typeof news)[number], q: (typeof news)[number]['questions'][number]) => boolean) =>
  news.flatMap((item) => item.questions.filter((q) => filter(item, q)).map((q) => q.id))

t.test('no baseline: base and ICL ask the trained news, like the adapters', async (t) => {
  const spec = await resolveSpec(tdb.db, { news_set_id: newsSet, domains: ['coding'], items_per_domain: 1 }, ctx)
  t.equal(spec.baseline_question_keys, null)
  const base = evalBody(expandCells(spec).find((c) => c.key === 'eval:base:m'))
  t.same(base.filter, { item_keys: ['coding-001'] })
})

t.test('a baseline of recall questions: every question of the trained news, then every recall question', async (t) => {
  const spec = await resolveSpec(tdb.db, { news_set_id: newsSet, domains: ['coding'], items_per_domain: 1, baseline: { question_types: ['recall'] } }, ctx)
  const want = [...new Set([...questionsOf((i) => i.id === 'coding-001'), ...questionsOf((_, q) => q.type === 'recall')])]
  t.same([...spec.baseline_question_keys!].sort(), want.sort())
  t.ok(want.length > questionsOf((i) => i.id === 'coding-001').length, 'more questions than the trained news')
  const cells = expandCells(spec)
  for (const mode of ['base', 'icl']) t.same(evalBody(cells.find((c) => c.key === `eval:${mode}:m`)).filter, { question_keys: spec.baseline_question_keys }, mode)
  const ft = evalBody(cells.find((c) => c.key.startsWith('eval:ft:')))
  t.same(ft.filter, { item_keys: ['coding-001'] }, 'the adapters ask their trained news')
})

t.test('a baseline by domain and items per domain: the first N items of each of its domains, all types', async (t) => {
  const spec = await resolveSpec(tdb.db, { news_set_id: newsSet, domains: ['coding'], items_per_domain: 1, baseline: { domains: ['mathematics', 'events'], items_per_domain: 1 } }, ctx)
  const want = questionsOf((i) => ['coding-001', 'mathematics-001', 'events-001'].includes(i.id))
  t.same([...spec.baseline_question_keys!].sort(), want.sort(), 'the trained news’ questions too, though coding is not a baseline domain')
})

t.test('the demo preset: two domains × three news trained, the recall questions of every news item for base and ICL', async (t) => {
  const spec = await resolveSpec(tdb.db, { preset: 'demo', news_set_id: newsSet }, ctx)
  t.same([...spec.item_keys].sort(), ['events-001', 'events-002', 'leaderboards-001', 'leaderboards-002'], 'two per domain are all this set has')
  const recall = questionsOf((_, q) => q.type === 'recall')
  t.ok(recall.every((k) => spec.baseline_question_keys!.includes(k)), 'every recall question')
  t.ok(questionsOf((i) => spec.item_keys.includes(i.id)).every((k) => spec.baseline_question_keys!.includes(k)), 'every question of the trained news')
})

t.test('bad baseline input: 400 problem+json naming the field, nothing created', async (t) => {
  const { app } = await startService(tdb.db, tdb.url, 'http://127.0.0.1:1')
  t.teardown(() => app.close())
  const bad = [[{ question_types: ['knowledge'] }, '/baseline/question_types/0'], [{ items_per_domain: 0 }, '/baseline/items_per_domain'], [{ colour: 1 }, '/baseline']] as const
  for (const [baseline, field] of bad) {
    const res = await app.inject({ method: 'POST', url: '/experiments', headers: auth, payload: { news_set_id: newsSet, baseline } })
    t.equal(res.statusCode, 400, JSON.stringify(baseline))
    t.match(res.headers['content-type'], /application\/problem\+json/)
    t.ok(res.json().errors.some((e: { path: string }) => e.path.startsWith(field)), `${JSON.stringify(baseline)} names ${field}: ${JSON.stringify(res.json().errors)}`)
  }
  t.equal((await tdb.db.selectFrom('experiments').select('id').execute()).length, 0, 'no experiment was created')
})
