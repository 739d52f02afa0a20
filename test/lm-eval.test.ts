// The product's scores checked against lm-evaluation-harness (the outside reference): a set imported
// through the generation service, base / icl / ft eval runs on the real worker (tiny model, an
// adapter trained by the worker), the set exported as lm-eval tasks, lm-eval's own evaluator on the
// same model (and the adapter through its `peft=`), compared question by question.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { repoRoot, startWorker } from '@sys2ft/worker-client/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { MODEL, someNews, startService, trainAdapter, until } from '../services/evaluation/test/fixtures.ts'

const lmEvalPython = path.join(repoRoot, 'infra/lmeval/.venv/bin/python')
if (!existsSync(lmEvalPython)) throw new Error(`${lmEvalPython} is missing: run ./sys2ft setup (infra/lmeval/setup.sh)`)

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const worker = await startWorker()
t.teardown(() => worker.stop())
const gen = await generation(testConfig(tdb.url), { logger: false })
t.teardown(() => gen.close())
const { app: evaluation } = await startService(tdb.db, tdb.url, worker.url)
t.teardown(() => evaluation.close())

const items = someNews(1).slice(0, 2)
const imported = await gen.inject({ method: 'POST', url: '/news-sets', headers: auth, payload: { name: 'lm-eval-check', items } })
const setId = imported.json().set.id as string
// trained hard enough that its log-likelihoods differ from the base model's far beyond the tolerance
const adapterId = await trainAdapter(tdb.db, worker.url, items, 'lmeval-ft', 1e12, { epochs: 3, learning_rate: 2e-2 })

t.test('bad export input: 400 naming the field', async (t) => {
  for (const [query, field] of [['format=csv', '/querystring/format'], ['format=lm-eval&modes=ft', '/querystring/modes/0'], ['format=lm-eval&answer_prefix=The%20answer%20is%20', '/querystring/answer_prefix']] as const) {
    const res = await gen.inject({ url: `/news-sets/${setId}/export?${query}`, headers: auth })
    t.equal(res.statusCode, 400, query)
    t.match(res.headers['content-type'], /application\/problem\+json/)
    t.ok(res.json().errors.some((e: { path: string }) => e.path.startsWith(field)), `${query} names ${field}: ${JSON.stringify(res.json().errors)}`)
  }
})

t.test('lm-eval and the product score the same tokens the same: per question, per rule, with an adapter', async (t) => {
  // the product's runs
  const ids: Record<string, string> = {}
  for (const mode of ['base', 'icl', 'ft'] as const) {
    const res = await evaluation.inject({ method: 'POST', url: '/eval-runs', headers: auth, payload: { model: MODEL, set_id: setId, mode, ...(mode === 'ft' ? { adapter_id: adapterId } : {}) } })
    t.equal(res.statusCode, 202, res.body.slice(0, 300))
    ids[mode] = res.json().id
  }
  const get = async (url: string) => (await evaluation.inject({ url, headers: auth })).json()
  const runs: Record<string, any> = {}
  for (const [mode, id] of Object.entries(ids)) {
    await until(async () => ['succeeded', 'failed'].includes((await get(`/eval-runs/${id}`)).state), 120_000, `${mode} run`)
    runs[mode] = await get(`/eval-runs/${id}`)
    t.equal(runs[mode].state, 'succeeded', runs[mode].error ?? '')
    runs[mode].results = new Map(((await get(`/eval-runs/${id}/results?limit=100`)).data as any[]).map((r) => [r.question_key, r]))
  }

  // the export, written where lm-eval will read it
  const dir = mkdtempSync(path.join(tmpdir(), 'sys2ft-lmeval-'))
  const exp = await gen.inject({ url: `/news-sets/${setId}/export?format=lm-eval&dir=${encodeURIComponent(dir)}`, headers: auth })
  t.equal(exp.statusCode, 200, exp.body.slice(0, 300))
  const ex = exp.json()
  t.equal(ex.questions, 10)
  t.same(ex.tasks.map((k: any) => k.name), ['base_letters', 'base_options', 'icl_letters', 'icl_options'].map((s) => `sys2ft_lm_eval_check_${s}`))
  for (const f of ex.files) writeFileSync(path.join(dir, f.path), f.content)
  t.match(ex.command, /lm_eval --model hf .*--apply_chat_template/)

  const info = await new WorkerClient({ baseURL: worker.url }).info()
  const task = (mode: string, choices: string) => `sys2ft_lm_eval_check_${mode}_${choices}`
  const env = { ...process.env, HF_HUB_OFFLINE: '1', HF_DATASETS_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', HF_HOME: path.join(dir, 'hf'), HF_DATASETS_CACHE: path.join(dir, 'datasets') }
  mkdirSync(path.join(dir, 'hf'), { recursive: true })
  const args = [
    path.join(repoRoot, 'infra/lmeval/run_tasks.py'), '--model', info.model.path, '--include', dir,
    '--tasks', ex.tasks.map((k: any) => k.name).join(','),
    '--peft', `ft=${path.join(worker.adapterDir, 'lmeval-ft')}`, '--peft-tasks', [task('base', 'letters'), task('base', 'options')].join(','),
  ]
  const lm = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(lmEvalPython, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code) => resolve({ code, out, err }))
  })
  t.equal(lm.code, 0, lm.err.slice(-2000))
  const reference = JSON.parse(lm.out) as Record<string, Record<string, { acc: number; acc_norm: number; token_mismatches: number; samples: { id: string; loglikelihoods: number[]; acc: number; acc_norm: number }[] }>>

  // float32 on both sides, but different batch shapes (lm-eval right-pads its own batches, the worker
  // left-pads a question's group and reuses its KV cache) change the order of float32 sums: on a
  // summed option text of -111 nats a CI machine differed by 4e-3 (3.6e-5 relative). The tolerance is
  // relative; a token more or less, a different prompt or a missing adapter moves a sum by whole nats.
  const TOL = 1e-4
  const close = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) <= TOL * Math.max(1, Math.abs(b[i]!)))
  const checks = [['base', 'base', 'base'], ['icl', 'base', 'icl'], ['ft', 'ft', 'base']] as const
  for (const [mode, pass, taskMode] of checks) {
    const run = runs[mode]
    for (const choices of ['letters', 'options'] as const) {
      const ref = reference[pass]![task(taskMode, choices)]!
      t.equal(ref.token_mismatches, 0, `${mode} ${choices}: lm-eval splits every continuation into the tokens the worker scores`)
      t.equal(ref.samples.length, 10)
      for (const s of ref.samples) {
        const mine = run.results.get(s.id)
        const lls = choices === 'letters' ? mine.scores.letter.logprob : mine.scores.option.logprob
        t.ok(close(lls, s.loglikelihoods), `${mode} ${choices} ${s.id}: log-likelihoods ${JSON.stringify(lls.map((x: number) => +x.toFixed(5)))} = lm-eval's ${JSON.stringify(s.loglikelihoods.map((x) => +x.toFixed(5)))}`)
        // acc ↔ letter (letters task), acc ↔ option_sum and acc_norm ↔ option_char_norm (options task)
        if (choices === 'letters') t.equal(mine.scores.correct_by.letter, s.acc === 1, `${mode} ${s.id}: letter = acc`)
        else {
          t.equal(mine.scores.correct_by.option_sum, s.acc === 1, `${mode} ${s.id}: option_sum = acc`)
          t.equal(mine.scores.correct_by.option_char_norm, s.acc_norm === 1, `${mode} ${s.id}: option_char_norm = acc_norm`)
        }
      }
      const m = run.summary.measures
      if (choices === 'letters') t.ok(Math.abs(m.letter.value - ref.acc) < 1e-9, `${mode}: letter accuracy ${m.letter.value} = lm-eval acc ${ref.acc}`)
      else {
        t.ok(Math.abs(m.option_sum.value - ref.acc) < 1e-9, `${mode}: option_sum ${m.option_sum.value} = lm-eval acc ${ref.acc}`)
        t.ok(Math.abs(m.option_char_norm.value - ref.acc_norm) < 1e-9, `${mode}: option_char_norm ${m.option_char_norm.value} = lm-eval acc_norm ${ref.acc_norm}`)
      }
    }
  }
  // the adapter is really applied on both sides: its log-likelihoods are not the base model's
  const [b, f] = [reference.base![task('base', 'options')]!.samples, reference.ft![task('base', 'options')]!.samples]
  const moved = Math.max(...b.flatMap((s, i) => s.loglikelihoods.map((x, k) => Math.abs(x - f[i]!.loglikelihoods[k]!))))
  t.ok(moved > 1, `peft= changed lm-eval’s log-likelihoods by whole nats, far beyond the tolerance (by up to ${moved.toFixed(4)})`)
})
