// Evaluation runs end to end on the real worker (tiny random Qwen2, CPU) and a fresh database:
// every mode, both scorings, the hand computation of loglik, results, events, the live stream, bad input.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth } from '@sys2ft/service-kit/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { startWorker } from '@sys2ft/worker-client/testing'
import { MODEL, seedControlSet, seedNewsSet, someControl, someNews, startService, trainAdapter, until } from './fixtures.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
const items = someNews(1)
const newsSet = await seedNewsSet(tdb.db, items)
const controlSet = await seedControlSet(tdb.db, someControl(6))
const adapterId = await trainAdapter(tdb.db, worker.url, items, 'eval-ft')
const { app, baseUrl } = await startService(tdb.db, tdb.url, worker.url)
t.teardown(() => app.close())

const post = (payload: object, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url: '/eval-runs', headers: { ...auth, ...headers }, payload })
const get = async (url: string) => (await app.inject({ url, headers: auth })).json()
async function finished(id: string) {
  await until(async () => ['succeeded', 'failed', 'cancelled'].includes((await get(`/eval-runs/${id}`)).state), 120_000, `run ${id}`)
  return get(`/eval-runs/${id}`)
}
async function allResults(id: string) {
  return (await get(`/eval-runs/${id}/results?limit=100`)).data as any[]
}
const runCount = async () => (await tdb.db.selectFrom('eval_runs').select('id').execute()).length
const score = (workerUrl = worker.url) => new WorkerClient({ baseURL: workerUrl })

t.test('bad input answers 400 problem+json naming the field, and stores nothing', async (t) => {
  const before = await runCount()
  const cases: [string, object, string][] = [
    ['unknown mode', { model: MODEL, set_id: newsSet, mode: 'zero_shot' }, '/mode'],
    ['unknown scoring', { model: MODEL, set_id: newsSet, mode: 'base', scoring: 'vibes' }, '/scoring'],
    ['unknown adapter', { model: MODEL, set_id: newsSet, mode: 'ft', adapter_id: 'ad_00000000000000000000000000000000' }, '/adapter_id'],
    ['ft without an adapter', { model: MODEL, set_id: newsSet, mode: 'ft' }, '/adapter_id'],
    ['an adapter on a base run', { model: MODEL, set_id: newsSet, mode: 'base', adapter_id: adapterId }, '/adapter_id'],
    ['model is not the adapter’s base', { model: 'qwen2.5-coder-0.5b-instruct', set_id: newsSet, mode: 'ft', adapter_id: adapterId }, '/model'],
    ['empty filter list', { model: MODEL, set_id: newsSet, mode: 'base', filter: { domains: [] } }, '/filter/domains'],
    ['filter selecting nothing', { model: MODEL, set_id: newsSet, mode: 'base', filter: { domains: ['mathematics'], question_keys: [items[1]!.questions[0]!.id] } }, '/filter'],
    ['unknown item key', { model: MODEL, set_id: newsSet, mode: 'base', filter: { item_keys: ['no-such-item'] } }, '/filter/item_keys'],
    ['icl on the control set', { model: MODEL, set_id: controlSet, mode: 'icl' }, '/mode'],
    ['domains on the control set', { model: MODEL, set_id: controlSet, mode: 'base', filter: { domains: ['coding'] } }, '/filter/domains'],
    ['a generate option on a loglik run', { model: MODEL, set_id: newsSet, mode: 'base', options: { reasoning: true } }, '/options/reasoning'],
    ['a loglik option on a generate run', { model: MODEL, set_id: newsSet, mode: 'base', scoring: 'generate', options: { primary: 'letter' } }, '/options/primary'],
    ['an answer prefix ending in a space', { model: MODEL, set_id: newsSet, mode: 'base', options: { answer_prefix: 'The answer is ' } }, '/options/answer_prefix'],
    ['unknown set', { model: MODEL, set_id: 'ns_00000000000000000000000000000000', mode: 'base' }, '/set_id'],
    ['unknown field', { model: MODEL, set_id: newsSet, mode: 'base', colour: 'blue' }, '/colour'],
    ['an unknown option', { model: MODEL, set_id: newsSet, mode: 'base', options: { colour: 'blue' } }, '/options/colour'],
  ]
  for (const [what, body, path] of cases) {
    const res = await post(body)
    t.equal(res.statusCode, 400, what)
    t.match(res.headers['content-type'], /application\/problem\+json/)
    const paths = (res.json().errors ?? []).map((e: { path: string }) => e.path)
    t.ok(paths.includes(path), `${what}: names ${path} (got ${paths.join(', ')})`)
  }
  t.equal(await runCount(), before, 'no run was stored')
  t.equal((await app.inject({ url: '/eval-runs/ev_00000000000000000000000000000000', headers: auth })).statusCode, 404)
  t.equal((await app.inject({ url: '/eval-runs/job_1', headers: auth })).statusCode, 404, 'a wrong-prefix id is a 404')
  t.equal((await app.inject({ url: '/eval-runs' })).statusCode, 401, 'authentication is on')
})

t.test('base + loglik: end to end, and each choice equals a hand computation from /v1/score', async (t) => {
  const res = await post({ model: MODEL, set_id: newsSet, mode: 'base', filter: { domains: ['mathematics', 'coding'] }, options: { questions_per_call: 4, seed: 3 } })
  t.equal(res.statusCode, 202)
  const created = res.json()
  t.match(created, { object: 'eval_run', state: 'queued', mode: 'base', scoring: 'loglik', progress: { done: 0, total: 10 }, options: { seed: 3, shuffle: true, primary: 'option_norm', template_version: 'v2', answer_prefix: 'The answer is', questions_per_call: 4 } })
  t.equal(res.headers.location, `/eval-runs/${created.id}`)
  t.match(created.provenance, { prompt_template: { version: 'v2', answer_prefix: 'The answer is' }, questions: { count: 10 }, seed: 3, worker: { url: worker.url, adapter: null } })

  const run = await finished(created.id)
  t.equal(run.state, 'succeeded', run.error ?? '')
  t.match(run.progress, { done: 10, total: 10 })
  t.match(run.summary, { partial: false, questions: 10, total: 10, primary: 'option_norm', overall: { n: 10, chance: 0.25 } })
  t.same(Object.keys(run.summary.by_domain), ['coding', 'mathematics'])
  t.same(Object.keys(run.summary.measures).sort(), ['letter', 'option_char_norm', 'option_norm', 'option_sum'])
  const mass = run.summary.overall.letter_mass
  t.ok(mass > 0 && mass <= 1 + 1e-9, `the letter mass is a probability: ${mass}`)
  t.ok(run.summary.overall.accuracy.ci_low !== null, 'a finished run has intervals')

  // the same batches the run sent (chunks of 4 in the set's order), sent again straight to the worker
  const order = await tdb.db.selectFrom('questions as q').innerJoin('news_items as i', 'i.id', 'q.item_id').select('q.id').where('q.set_id', '=', newsSet).orderBy('i.position').orderBy('q.position').execute()
  const results = await allResults(created.id)
  const byQ = new Map(results.map((r) => [r.question_id, r]))
  const ordered = order.map((o) => byQ.get(o.id)).filter(Boolean)
  t.equal(ordered.length, 10)
  for (let c = 0; c < ordered.length; c += 4) {
    const chunk = ordered.slice(c, c + 4)
    const direct = await score().score({ model: MODEL, items: chunk.map((r) => ({ messages: r.prompt.messages, prefix: r.prompt.prefix, continuations: r.prompt.continuations })) })
    chunk.forEach((r, k) => {
      const s = direct.results[k]!.scores
      const n = r.option_order.length
      const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs))
      const hand = {
        letter: r.option_order[argmax(s.slice(0, n).map((x) => x.logprob))],
        option_norm: r.option_order[argmax(s.slice(n).map((x) => x.logprob / x.tokens))],
        option_sum: r.option_order[argmax(s.slice(n).map((x) => x.logprob))],
        // lm-eval's acc_norm: per character of the option's text, without the delimiter
        option_char_norm: r.option_order[argmax(s.slice(n).map((x, i) => x.logprob / r.prompt.continuations[n + i].slice(1).length))],
      }
      t.same(r.scores.picks, hand, `${r.question_key}: the service's choices are the hand computation's`)
      t.equal(r.predicted_index, hand.option_norm, 'the primary rule decides predicted_index')
      t.equal(r.correct, hand.option_norm === r.answer_index)
      t.ok(s.slice(n).every((x, i) => Math.abs(x.logprob - r.scores.option.logprob[i]) < 1e-6), 'same log-probabilities')
      t.ok(Math.abs(r.scores.letter_mass - s.slice(0, n).reduce((m, x) => m + Math.exp(x.logprob), 0)) < 1e-9, 'letter mass = Σ p(letter)')
    })
  }
  // what the model saw: no news, lettered options in the stored order, the answer prefix, then letters and texts after a space
  const q = await tdb.db.selectFrom('questions').select(['id', 'options']).where('id', '=', ordered[0].question_id).executeTakeFirstOrThrow()
  const shown = ordered[0].option_order.map((i: number) => q.options[i])
  t.equal(ordered[0].prompt.prefix, 'The answer is')
  t.same(ordered[0].prompt.continuations, [' A', ' B', ' C', ' D', ...shown.map((o: string) => ` ${o}`)])
  t.notMatch(ordered[0].prompt.messages[0].content, /recent news item/)
  t.match(ordered[0].prompt.messages[0].content, new RegExp(`A\\. ${shown[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  t.ok(results.some((r) => r.option_order.join() !== '0,1,2,3'), 'options were shuffled')
})

t.test('icl, ft and ft_icl: the news in context, the adapter on the worker', async (t) => {
  const filter = { item_keys: [items[0]!.id] }
  const ids = {} as Record<string, string>
  for (const mode of ['base', 'icl', 'ft', 'ft_icl'] as const) {
    const res = await post({ model: MODEL, set_id: newsSet, mode, filter, ...(mode.startsWith('ft') ? { adapter_id: adapterId } : {}) })
    t.equal(res.statusCode, 202, `${mode}: ${res.body.slice(0, 200)}`)
    ids[mode] = res.json().id
  }
  const runs = Object.fromEntries(await Promise.all(Object.entries(ids).map(async ([m, id]) => [m, await finished(id)])))
  for (const m of Object.keys(ids)) t.equal(runs[m].state, 'succeeded', `${m}: ${runs[m].error ?? ''}`)
  t.match(runs.ft.provenance, { adapter: { id: adapterId, name: 'eval-ft', base_model: MODEL }, worker: { adapter: 'eval-ft' } })

  const res = Object.fromEntries(await Promise.all(Object.entries(ids).map(async ([m, id]) => [m, await allResults(id)])))
  const text = items[0]!.text
  for (const m of ['icl', 'ft_icl']) t.ok(res[m].every((r: any) => r.prompt.messages[0].content.includes(text)), `${m}: the news is in context`)
  for (const m of ['base', 'ft']) t.ok(res[m].every((r: any) => !r.prompt.messages[0].content.includes(text)), `${m}: no news`)
  for (const m of ['ft', 'ft_icl']) t.ok(res[m].every((r: any) => r.prompt.adapter === 'eval-ft'), `${m}: the adapter answers`)
  // same prompts (same seed), different weights: the adapter changed the scores
  const base = new Map(res.base.map((r: any) => [r.question_id, r.scores.option.logprob]))
  t.ok(res.ft.some((r: any) => r.scores.option.logprob.some((x: number, i: number) => Math.abs(x - (base.get(r.question_id) as number[])[i]!) > 1e-6)), 'the adapter’s log-probabilities differ from the base model’s')
})

t.test('generate: free answers, the letter read from them, unparseable ones decided by the fallback and counted', async (t) => {
  const filter = { item_keys: [items[2]!.id] }
  const a = await post({ model: MODEL, set_id: newsSet, mode: 'icl', scoring: 'generate', filter, options: { max_tokens: 12 } })
  const b = await post({ model: MODEL, set_id: newsSet, mode: 'base', scoring: 'generate', filter, options: { reasoning: false, unparsed: 'wrong' } })
  t.equal(a.statusCode, 202)
  t.match(a.json().options, { reasoning: true, max_tokens: 12, temperature: 0, unparsed: 'fallback', questions_per_call: 16 })
  t.match(b.json().options, { reasoning: false, max_tokens: 16, unparsed: 'wrong' })
  const [ra, rb] = [await finished(a.json().id), await finished(b.json().id)]
  t.equal(ra.state, 'succeeded', ra.error ?? '')
  t.equal(rb.state, 'succeeded', rb.error ?? '')

  const results = await allResults(ra.id)
  t.equal(results.length, 5)
  for (const r of results) {
    t.type(r.raw_answer, 'string')
    t.match(r.prompt, { max_tokens: 12, temperature: 0 })
    t.match(r.prompt.messages[0].content, /The answer is <letter>/)
    if (!r.parsed) {
      t.equal(r.scores.fallback.logprob.length, 4, 'the fallback scored every letter')
      // the forced final letter: the answer, "\nThe answer is", then " A"… scored by the worker
      const direct = await score().score({ model: MODEL, items: [{ messages: r.prompt.messages, prefix: `${r.raw_answer}\nThe answer is`, continuations: [' A', ' B', ' C', ' D'] }] })
      t.ok(direct.results[0]!.scores.every((x, i) => Math.abs(x.logprob - r.scores.fallback.logprob[i]) < 1e-4), 'the forced letter is scored after the answer and the prefix (alone here, batched in the run: float32 rounding)')
      t.equal(r.predicted_index, r.scores.picks.fallback, 'the fallback decided')
    } else t.equal(r.predicted_index, r.scores.picks.parsed)
  }
  const unparsed = results.filter((r) => !r.parsed).length
  t.equal(ra.summary.unparsed, unparsed, `${unparsed} unparsed answers are counted`)
  t.equal(ra.summary.truncated, results.filter((r) => r.scores.finish_reason === 'length').length, 'truncated answers are counted')
  t.equal(ra.summary.overall.letter_mass, null)
  t.same(Object.keys(ra.summary.measures).sort(), ['parsed_only', 'with_fallback'])
  t.ok(ra.summary.measures.parsed_only.value <= ra.summary.measures.with_fallback.value)

  const strict = await allResults(rb.id)
  for (const r of strict.filter((r) => !r.parsed)) {
    t.equal(r.correct, false, 'unparsed: wrong')
    t.equal(r.predicted_index, null)
  }
  t.equal(rb.summary.overall.accuracy.value, rb.summary.measures.parsed_only.value, 'accuracy counts unparsed answers wrong')
})

t.test('control set: base and ft', async (t) => {
  const ids = []
  for (const mode of ['base', 'ft'] as const) {
    const res = await post({ model: MODEL, set_id: controlSet, mode, ...(mode === 'ft' ? { adapter_id: adapterId } : {}) })
    t.equal(res.statusCode, 202)
    ids.push(res.json().id)
  }
  for (const id of ids) {
    const run = await finished(id)
    t.equal(run.state, 'succeeded')
    t.equal(run.summary.questions, 6)
    t.ok(Object.keys(run.summary.by_domain).every((k: string) => someControl(6).some((q) => q.subject === k)), 'groups by subject')
  }
})

t.test('results pages and filters, events, the live stream', async (t) => {
  const created = (await post({ model: MODEL, set_id: newsSet, mode: 'base', options: { questions_per_call: 5 } })).json()
  // follow the stream from the start: snapshot, progress events, the end
  const stream = await fetch(`${baseUrl}/eval-runs/${created.id}/stream`, { headers: auth })
  t.match(stream.headers.get('content-type'), /text\/event-stream/)
  const body = await stream.text()
  t.match(body, /^event: snapshot/)
  t.match(body, /event: progress/)
  const end = JSON.parse(body.split('event: end\ndata: ')[1]!.split('\n')[0]!)
  t.match(end, { id: created.id, state: 'succeeded', progress: { done: 25, total: 25 } })

  const seen = new Set<string>()
  let url = `/eval-runs/${created.id}/results?limit=10`
  for (let page = 0; page < 5; page++) {
    const p = await get(url)
    p.data.forEach((r: { question_id: string }) => seen.add(r.question_id))
    if (!p.has_more) break
    url = `/eval-runs/${created.id}/results?limit=10&after=${p.next_cursor}`
  }
  t.equal(seen.size, 25, 'three pages hold every result once')
  const right = (await get(`/eval-runs/${created.id}/results?correct=true&limit=100`)).data.length
  const wrong = (await get(`/eval-runs/${created.id}/results?correct=false&limit=100`)).data.length
  t.equal(right + wrong, 25)
  t.equal(right, end.summary.overall.correct)
  const coding = (await get(`/eval-runs/${created.id}/results?domain=coding&limit=100`)).data
  t.ok(coding.length === 5 && coding.every((r: { domain: string }) => r.domain === 'coding'))
  t.equal((await app.inject({ url: `/eval-runs/${created.id}/results?correct=maybe`, headers: auth })).statusCode, 400)

  const events = (await get(`/eval-runs/${created.id}/events`)).data
  t.same(events.filter((e: { type: string }) => e.type === 'state').map((e: { state: string }) => e.state), ['queued', 'running', 'succeeded'])
  t.equal(events.filter((e: { type: string }) => e.type === 'progress').length, 5, 'one progress event per chunk')

  const list = await get(`/eval-runs?set_id=${newsSet}&mode=base&limit=100`)
  t.ok(list.data.some((r: { id: string }) => r.id === created.id))
  t.ok(list.data.every((r: { mode: string }) => r.mode === 'base'))
})

t.test('a model the worker does not serve is refused when the run is created (400 naming /model), not failed later', async (t) => {
  const before = await runCount()
  const res = await post({ model: 'qwen2.5-coder-1.5b-instruct', set_id: newsSet, mode: 'base', filter: { item_keys: [items[0]!.id] } })
  t.equal(res.statusCode, 400)
  t.match(res.json().errors, [{ path: '/model', message: new RegExp(`serves ${MODEL}, not qwen2\\.5-coder-1\\.5b-instruct`) }])
  t.equal(await runCount(), before, 'no run was stored')
})

t.test('Idempotency-Key: a retried POST returns the first run; DELETE of a finished run is a conflict', async (t) => {
  const body = { model: MODEL, set_id: newsSet, mode: 'base', filter: { question_keys: [items[0]!.questions[0]!.id] } }
  const before = await runCount()
  const first = await post(body, { 'idempotency-key': 'eval-retry-1' })
  const second = await post(body, { 'idempotency-key': 'eval-retry-1' })
  t.equal(second.headers['idempotent-replayed'], 'true')
  t.equal(second.json().id, first.json().id)
  t.equal(await runCount(), before + 1, 'one run')
  await finished(first.json().id)
  const del = await app.inject({ method: 'DELETE', url: `/eval-runs/${first.json().id}`, headers: auth })
  t.equal(del.statusCode, 409)
  const resume = await app.inject({ method: 'POST', url: `/eval-runs/${first.json().id}/resume`, headers: auth })
  t.equal(resume.statusCode, 409, 'a succeeded run cannot be resumed')
})
