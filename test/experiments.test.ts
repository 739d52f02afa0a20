// End to end through HTTP: the three services on real ports, the real worker (tiny model), a real
// Postgres. An experiment expands into cells, runs generation → training → evaluation, survives a
// stop of the whole stack, and is driven by the CLI and by the curl script too.
import t from 'tap'
import { spawn } from 'node:child_process'
import { createTestDatabase } from '@sys2ft/db/testing'
import { TEST_KEY, auth, testConfig } from '@sys2ft/service-kit/testing'
import { startWorker } from '@sys2ft/worker-client/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { buildApp as evaluation } from '@sys2ft/evaluation'
import type { App } from '@sys2ft/service-kit'
import { seedBuiltinSets } from '../services/generation/src/domain/news-sets.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
await seedBuiltinSets(tdb.db)

const config = testConfig(tdb.url)
config.urls.worker = worker.url
const fast = { pollMs: 50 }
let apps: Record<string, App> = {}

/** Starts the three services on fixed ports (kept across a restart, as a real stack's are). */
async function startServices(ports?: Record<string, number>) {
  apps = {
    generation: await generation(config, { logger: false, jobOwner: 'gen-e2e', ...fast }),
    training: await training(config, { logger: false }),
    evaluation: await evaluation(config, { logger: false, runner: { jobOwner: 'eval-e2e', ...fast }, experiments: { jobOwner: 'exp-e2e', ...fast, experimentPollMs: 200 } }),
  }
  for (const [name, app] of Object.entries(apps)) {
    const address = await app.listen({ host: '127.0.0.1', port: ports?.[name] ?? 0 })
    config.urls[name as 'generation'] = address
  }
  return Object.fromEntries(Object.entries(config.urls).map(([k, v]) => [k, Number(new URL(v).port)]))
}
const stopServices = () => Promise.all(Object.values(apps).map((a) => a.close()))
t.teardown(stopServices)

const api = (path: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(`${config.urls.evaluation}${path}`, { method: init.method ?? 'GET', headers: { ...auth, 'content-type': 'application/json' }, ...(init.body ? { body: JSON.stringify(init.body) } : {}) }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }))
async function finished(id: string, ms = 240_000) {
  const end = Date.now() + ms
  for (;;) {
    const e = (await api(`/experiments/${id}`)).body
    if (['succeeded', 'failed', 'cancelled'].includes(e.state)) return e
    if (Date.now() > end) throw new Error(`experiment ${id} still ${e.state}: ${JSON.stringify(e.cells.map((c: any) => [c.key, c.state]))}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const ports = await startServices()
const items = ['mathematics-001', 'coding-001']
// A tiny random model's self-made data is rejected by the parsers, so replay adds the news text
// itself: every adapter has something to train on.
const tinySpecBase = { item_keys: items, samples_per_news: [2] }
const tinySpec = { name: 'tiny', item_keys: items, protocols: ['naive', { protocol: 'self_qa', replay: 1 }], samples_per_news: [2], training: { epochs: [1], batch_size: 2 }, generation: { max_tokens: 32 } }

t.test('bad input: 4xx naming the field, nothing created', async (t) => {
  const bad = await api('/experiments', { method: 'POST', body: { preset: 'nope', samples_per_news: [0], colour: 1 } })
  t.equal(bad.status, 400)
  const paths = bad.body.errors.map((e: { path: string }) => e.path)
  t.ok(['/preset', '/samples_per_news/0', '/colour'].every((p) => paths.includes(p)), paths.join(', '))
  const missing = await api('/experiments', { method: 'POST', body: { item_keys: ['nope-1'] } })
  t.equal(missing.status, 400)
  t.equal(missing.body.errors[0].path, '/item_keys')
  const sizeless = await api('/experiments', { method: 'POST', body: { ...tinySpecBase, match_compute: true } })
  t.equal(sizeless.status, 400, 'matched compute without the model’s size')
  t.equal(sizeless.body.errors[0].path, '/model_params')
  t.equal((await tdb.db.selectFrom('experiments').select('id').execute()).length, 0)
})

t.test('a tiny experiment end to end: cells, results with intervals, the report', async (t) => {
  const created = await api('/experiments', { method: 'POST', body: tinySpec })
  t.equal(created.status, 202, JSON.stringify(created.body))
  const e0 = created.body
  t.equal(e0.progress.total, 8, 'base + icl + 2 × (generation, training, ft)')
  t.same(e0.spec.models, ['tiny-qwen2'], 'the worker’s model by default')
  const e = await finished(e0.id)
  t.equal(e.state, 'succeeded', e.error ?? '')
  t.ok(e.cells.every((c: any) => c.state === 'succeeded' && c.resource_id))
  const rows = e.results.rows
  t.same(rows.map((r: any) => r.method).sort(), ['base', 'ft', 'ft', 'icl'])
  const cell = (key: string) => e.cells.find((c: any) => c.key === key)
  t.same(e.cells.map((c: any) => c.kind).sort(), ['evaluation', 'evaluation', 'evaluation', 'evaluation', 'generation', 'generation', 'training', 'training'])
  t.same(e.results.report_runs, e.cells.filter((c: any) => c.kind === 'evaluation').map((c: any) => c.resource_id), 'the table is over exactly the evaluation cells’ runs')

  // each cell's resource is what the cell says: the generation run's protocol, the training job's
  // data and model, the eval run's mode and adapter
  for (const g of e.cells.filter((c: any) => c.kind === 'generation')) {
    const run = await tdb.db.selectFrom('generation_runs').selectAll().where('id', '=', g.resource_id).executeTakeFirstOrThrow()
    t.equal(run.protocol, g.key.includes(':self_qa') ? 'self_qa' : 'naive', `${g.key} → a ${run.protocol} run`)
    t.match(run.options, { samples_per_news: 2, replay: g.key.includes('replay1') ? 1 : 0 })
    t.ok(run.samples_accepted > 0, `${g.key}: ${run.samples_accepted} accepted samples to train on`)
  }
  for (const tr of e.cells.filter((c: any) => c.kind === 'training')) {
    const job = await tdb.db.selectFrom('training_jobs').selectAll().where('id', '=', tr.resource_id).executeTakeFirstOrThrow()
    const gen = cell(tr.depends_on[0])
    t.same((job.data as any).sources.map((s: any) => s.generation_run_id), [gen.resource_id], `${tr.key}: trained on its generation run`)
    t.equal(job.base_model, 'tiny-qwen2')
    t.equal(tr.progress.adapter_id, job.adapter_id)
  }
  const counted = async (runId: string, where: (r: { type: string }) => boolean = () => true) => {
    const rs = (await tdb.db.selectFrom('eval_results').select(['correct', 'type']).where('run_id', '=', runId).execute()).filter(where)
    return { n: rs.length, value: rs.filter((r) => r.correct).length / rs.length }
  }
  for (const r of rows) {
    const c = cell(r.cell)
    t.equal(c.resource_id, r.eval_run_id)
    const run = await tdb.db.selectFrom('eval_runs').selectAll().where('id', '=', r.eval_run_id).executeTakeFirstOrThrow()
    t.equal(run.mode, r.method, `${r.cell}: an eval run of mode ${r.method}`)
    if (r.method === 'ft') t.equal(run.adapter_id, cell(c.depends_on[0]).progress.adapter_id, `${r.cell}: evaluates its training cell’s adapter`)
    // the summary agrees with the per-question results in the database
    const all = await counted(r.eval_run_id)
    t.same([r.accuracy.n, r.accuracy.value], [10, all.value], `${r.cell}: ${all.value} over two news × five questions`)
    t.ok(r.accuracy.ci_low <= r.accuracy.value && r.accuracy.value <= r.accuracy.ci_high)
    for (const type of ['recall', 'implication']) {
      const g = await counted(r.eval_run_id, (x) => x.type === type)
      t.same([r.by_type[type].n, r.by_type[type].value], [g.n, g.value], `${r.cell}: ${type}`)
    }
  }
  const acc = (method: string) => rows.find((r: any) => r.method === method).accuracy.value
  const icl = rows.find((r: any) => r.method === 'icl')
  t.ok(Math.abs(icl.icl_gain.estimate.value - (acc('icl') - acc('base'))) < 1e-12, 'ICL gain = ICL − base')
  t.same(icl.icl_gain.runs, { base: rows.find((r: any) => r.method === 'base').eval_run_id, icl: icl.eval_run_id })
  t.same(Object.keys(icl.icl_gain.by_type).sort(), ['implication', 'recall'])
  for (const ft of rows.filter((r: any) => r.method === 'ft')) {
    t.match(ft.label, new RegExp(`^FT · ${ft.protocol === 'naive' ? 'naive' : 'self_qa \\+ replay 1'} · 2/news · lr 2e-4 · 1 ep$`), 'named by what it is')
    t.ok(Math.abs(ft.ft_icl_gap.estimate.value - (acc('icl') - ft.accuracy.value)) < 1e-12, `${ft.label}: FT-ICL gap = ICL − FT`)
    t.same(ft.icl_gain, icl.icl_gain, 'the FT row carries the ICL gain that guards its gap closed')
    if (icl.icl_gain.estimate.ci_low > 0) t.ok(Math.abs(ft.gap_closed.estimate.value - (ft.accuracy.value - acc('base')) / (acc('icl') - acc('base'))) < 1e-12)
    else {
      t.equal(ft.gap_closed.estimate.value, null, 'ICL does not beat base here: gap closed withheld')
      t.match(ft.gap_closed.undefined_reason, /^undefined: ICL does not beat base on these questions/)
    }
    const adapter = await tdb.db.selectFrom('adapters').select('compute').where('id', '=', ft.adapter_id).executeTakeFirstOrThrow()
    t.equal(ft.compute_flops, (adapter.compute as any).flops, 'compute from the adapter')
    t.ok(ft.compute_flops > 0)
    // the self-play compute beside it: 2·N per token its generation run processed (none for naive)
    const job = await tdb.db.selectFrom('training_jobs').select('data').where('adapter_id', '=', ft.adapter_id).executeTakeFirstOrThrow()
    const genId = (job.data.sources[0] as { generation_run_id: string }).generation_run_id
    const gen = await tdb.db.selectFrom('generation_runs').select(['prompt_tokens', 'completion_tokens']).where('id', '=', genId).executeTakeFirstOrThrow()
    t.equal(ft.generation_flops, 2 * (adapter.compute as any).total_params * (Number(gen.prompt_tokens) + Number(gen.completion_tokens)), `${ft.label}: generation compute`)
    if (ft.protocol !== 'naive') t.ok(ft.generation_flops > 0)
  }
  // the list answers each experiment as GET /experiments/{id} does (built from one query for all cells)
  const listed = (await (await fetch(`${config.urls.evaluation}/experiments?limit=100`, { headers: auth })).json()).data.find((x: { id: string }) => x.id === e.id)
  const one = await (await fetch(`${config.urls.evaluation}/experiments/${e.id}`, { headers: auth })).json()
  t.same({ ...listed, estimate: null }, { ...one, estimate: null }, 'listed as got')
  const csv = await fetch(`${config.urls.evaluation}/experiments/${e.id}/results?format=csv`, { headers: auth })
  t.match(await csv.text(), /accuracy/)
  const html = await fetch(`${config.urls.evaluation}/experiments/${e.id}/report`, { headers: auth })
  t.match(html.headers.get('content-type'), /text\/html/)
  t.match(await html.text(), /<canvas/)
  // cells that share a generation run or a base/icl evaluation are not duplicated
  t.equal((await tdb.db.selectFrom('generation_runs').select('id').execute()).length, 2)
  t.equal((await tdb.db.selectFrom('eval_runs').select('id').where('mode', 'in', ['base', 'icl']).execute()).length, 2)
})

t.test('stop the whole stack mid-experiment: it continues, finished cells are not redone', async (t) => {
  const e0 = (await api('/experiments', { method: 'POST', body: { ...tinySpec, name: 'restart', protocols: ['naive'], seeds: [1] } })).body
  const end = Date.now() + 120_000
  for (;;) {
    const e = (await api(`/experiments/${e0.id}`)).body
    if (e.cells.some((c: any) => c.state === 'succeeded')) break
    if (Date.now() > end) throw new Error('no cell finished')
    await new Promise((r) => setTimeout(r, 100))
  }
  const before = await tdb.db.selectFrom('experiment_cells').selectAll().where('experiment_id', '=', e0.id).execute()
  await stopServices()
  await startServices(ports)
  const e = await finished(e0.id)
  t.equal(e.state, 'succeeded', e.error ?? '')
  for (const c of before.filter((c) => c.state === 'succeeded')) {
    t.equal(e.cells.find((x: any) => x.key === c.key).resource_id, c.resource_id, `${c.key} kept its resource`)
  }
  const evalRuns = await tdb.db.selectFrom('eval_runs').select('id').where('id', 'in', e.cells.filter((c: any) => c.kind === 'evaluation').map((c: any) => c.resource_id)).execute()
  t.equal(evalRuns.length, 3, 'one eval run per evaluation cell')
  const jobs = await tdb.db.selectFrom('training_jobs').select('id').where('id', 'in', e.cells.filter((c: any) => c.kind === 'training').map((c: any) => c.resource_id)).execute()
  t.equal(jobs.length, 1)
})

function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => resolve({ code: code ?? 1, out }))
  })
}

t.test('the CLI runs an experiment and prints the table', async (t) => {
  const r = await run(process.execPath, ['packages/cli/bin/sys2ft.mjs', '--url', config.urls.evaluation, '--key', TEST_KEY, 'experiment', 'run', '--domains', 'events', '--items-per-domain', '1', '--baseline-types', 'recall', '--baseline-items-per-domain', '1', '--protocols', 'naive', '--samples', '1', '--epochs', '1'], {})
  t.equal(r.code, 0, r.out)
  t.match(r.out, /experiment exp_[0-9a-f]{32} succeeded/)
  // the baseline: events-001's 5 questions and the recall question of each domain's first item (events-001's among them)
  t.match(r.out, /tiny-qwen2 — New News questions \(base and ICL: 9 questions on 5 news items; each adapter: the questions of its trained news; chance 25%\)/)
  t.match(r.out, /FT · naive · 1\/news · lr 2e-4 · 1 ep +5 /, 'the adapter asks its 5 trained questions')
  t.match(r.out, /ICL gain on the trained news \(n = 5\)/, 'gap closed’s guard, on the trained news')
  t.match(r.out, /ICL \(news in context\)/)
  t.match(r.out, /FT · naive · 1\/news · lr 2e-4 · 1 ep /)
  t.match(r.out, /ICL gain = ICL − base \(n = 9\) +[+-]\d+\.\d pt/)
  t.match(r.out, /gap closed · FT · naive/)
  t.match(r.out, /comparison \[95% CI\] +all +implication +recall/, 'overall and per question type')
})

t.test('audit-no-news: every question asked without the news; the confident right answers listed', async (t) => {
  const shipped = (await tdb.db.selectFrom('news_sets').select('id').where('kind', '=', 'news').where('builtin', '=', true).executeTakeFirstOrThrow()).id
  const cli = (threshold: string) => run(process.execPath, ['packages/cli/bin/sys2ft.mjs', '--url', config.urls.evaluation, '--key', TEST_KEY, 'audit-no-news', '--generation-url', config.urls.generation, '--set', shipped, '--model', 'tiny-qwen2', '--domains', 'leaderboards', '--threshold', threshold, '--json'], {})
  const all = await cli('0')
  t.equal(all.code, 0, all.out)
  const a = JSON.parse(all.out.slice(all.out.indexOf('{')))
  t.equal(a.questions, 100, 'the 100 leaderboards questions')
  t.equal(a.suspects.length, a.correct, 'threshold 0: every right answer is a suspect')
  t.ok(a.suspects.every((s: { p: number; question_key: string }) => s.p > 0 && s.p <= 1 && s.question_key.startsWith('leaderboards-')))
  const none = JSON.parse((await cli('1')).out.replace(/^[^{]*/, ''))
  t.equal(none.suspects.length, 0, 'threshold 1: none')
})

t.test('the curl pipeline runs against the live stack', async (t) => {
  const r = await run('bash', ['scripts/curl/pipeline.sh'], { SYS2FT_GENERATION_URL: config.urls.generation, SYS2FT_TRAINING_URL: config.urls.training, SYS2FT_EVALUATION_URL: config.urls.evaluation, SYS2FT_API_KEY: TEST_KEY, ITEMS: '"events-001"', SAMPLES: '1' })
  t.equal(r.code, 0, r.out)
  t.match(r.out, /pipeline ok: gen_\w+ job_\w+ ev_\w+ ev_\w+ ev_\w+ exp_\w+/)
  t.match(r.out, /gap_closed|ft_icl_gap/)
})
