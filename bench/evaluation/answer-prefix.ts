// The answer prefix on a real model, and the agreement with lm-evaluation-harness, in one run.
//
//   npx tsx bench/evaluation/answer-prefix.ts [--items N] [--questions Q] [--model qwen2.5-coder-0.5b-instruct]
//
// Seeds N shipped news items per domain (the first Q of their questions) and runs, on the real worker (float32), base with the bare
// assistant start (`answer_prefix: ""`, the v1 prompt's letters), base and icl with the default
// prefix; stops the worker; exports the set as lm-eval tasks and runs lm-eval's evaluator on the same
// model directory. Prints letter mass and accuracy per rule, the ratio of letter masses, and the
// largest per-choice log-likelihood difference from lm-eval (one model loaded at a time).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { lmEvalExport } from '@sys2ft/dataset'
import { createTestDatabase } from '@sys2ft/db/testing'
import { auth } from '@sys2ft/service-kit/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { repoRoot, startWorker } from '@sys2ft/worker-client/testing'
import { selectQuestions } from '../../services/evaluation/src/domain/questions.ts'
import { seedNewsSet, someNews, startService, until } from '../../services/evaluation/test/fixtures.ts'

const { values: args } = parseArgs({ options: { items: { type: 'string', default: '1' }, questions: { type: 'string', default: '1000' }, model: { type: 'string', default: 'qwen2.5-coder-0.5b-instruct' } } })
const tdb = await createTestDatabase()
const worker = await startWorker({ model: args.model, timeoutMs: 600_000 })
const info = await new WorkerClient({ baseURL: worker.url }).info()
const news = someNews(Number(args.items))
const setId = await seedNewsSet(tdb.db, news, 'prefix-bench')
const filter = { question_keys: news.flatMap((n) => n.questions.map((q) => q.id)).slice(0, Number(args.questions)) }
const { app } = await startService(tdb.db, tdb.url, worker.url, { pollMs: 200 })
const get = async (url: string) => (await app.inject({ url, headers: auth })).json()

async function run(mode: string, options: Record<string, unknown>) {
  const created = (await app.inject({ method: 'POST', url: '/eval-runs', headers: auth, payload: { model: info.model.id, set_id: setId, mode, filter, options: { questions_per_call: 4, ...options } } })).json()
  await until(async () => ['succeeded', 'failed'].includes((await get(`/eval-runs/${created.id}`)).state), 3_600_000, mode)
  const r = await get(`/eval-runs/${created.id}`)
  if (r.state !== 'succeeded') throw new Error(`${mode}: ${r.error}`)
  return { summary: r.summary, results: (await get(`/eval-runs/${created.id}/results?limit=100`)).data as any[] }
}
const runs = { 'base, bare start': await run('base', { answer_prefix: '' }), base: await run('base', {}), icl: await run('icl', {}) }
await app.close()
await worker.stop()

const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(1)}%`)
console.log(`${info.model.id}, ${runs.base.summary.questions} questions\n`)
console.log('run               letter mass  letter  option_norm  option_sum  option_char_norm')
for (const [name, r] of Object.entries(runs)) {
  const m = r.summary.measures
  console.log(`${name.padEnd(17)} ${pct(r.summary.overall.letter_mass).padStart(11)}  ${pct(m.letter.value).padStart(6)}  ${pct(m.option_norm.value).padStart(11)}  ${pct(m.option_sum.value).padStart(10)}  ${pct(m.option_char_norm.value).padStart(16)}`)
}
console.log(`\nletter mass, "The answer is" / bare start: ${(runs.base.summary.overall.letter_mass / runs['base, bare start'].summary.overall.letter_mass).toFixed(2)}×`)

// lm-eval on the same questions, prompts and model directory
const dir = mkdtempSync(path.join(tmpdir(), 'sys2ft-prefix-bench-'))
const { tasks, files } = lmEvalExport(await selectQuestions(tdb.db, setId, filter), { setName: 'prefix-bench', modes: ['base', 'icl'], seed: 0, shuffle: true, dir })
for (const f of files) writeFileSync(path.join(dir, f.path), f.content)
const env = { ...process.env, HF_HOME: path.join(dir, 'hf'), HF_DATASETS_CACHE: path.join(dir, 'datasets') }
const lm = spawnSync(path.join(repoRoot, 'infra/lmeval/.venv/bin/python'), [path.join(repoRoot, 'infra/lmeval/run_tasks.py'), '--model', info.model.path, '--include', dir, '--tasks', tasks.map((t) => t.name).join(',')], { env, encoding: 'utf8', maxBuffer: 1 << 28 })
if (lm.status !== 0) throw new Error(lm.stderr.slice(-2000))
const ref = JSON.parse(lm.stdout).base
console.log('\nlm-eval                 acc     acc_norm  max |Δ log-likelihood|  token mismatches')
for (const t of tasks) {
  const r = ref[t.name]
  const mine = new Map((t.mode === 'base' ? runs.base : runs.icl).results.map((x) => [x.question_key, t.choices === 'letters' ? x.scores.letter.logprob : x.scores.option.logprob]))
  const delta = Math.max(...r.samples.flatMap((s: any) => s.loglikelihoods.map((x: number, k: number) => Math.abs(x - mine.get(s.id)![k]!))))
  console.log(`${`${t.mode} ${t.choices}`.padEnd(20)} ${pct(r.acc).padStart(6)}  ${pct(r.acc_norm).padStart(8)}  ${delta.toExponential(2).padStart(22)}  ${r.token_mismatches}`)
}
await tdb.drop()
