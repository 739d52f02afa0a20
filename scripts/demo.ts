// `./sys2ft demo`: the main job. Starts the whole product on embedded defaults (embedded PostgreSQL,
// the CPU worker with Qwen2.5-Coder-0.5B-Instruct from its PyPI packages), runs the `demo` preset
// (base and ICL on 114 questions; naive FT and Self-QA FT on 2 × 2 news) with a live progress bar, prints the table
// and writes the HTML report. A demo interrupted earlier is picked up where it stood.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { ExperimentsApi, follow, formatResults } from '@sys2ft/cli'
import { startStack } from './lib/stack.ts'

const { values } = parseArgs({ options: { preset: { type: 'string', default: 'demo' }, model: { type: 'string', default: process.env.SYS2FT_DEMO_MODEL ?? 'qwen2.5-coder-0.5b-instruct' } } })
const say = (line: string) => console.error(`sys2ft: ${line}`)
const started = Date.now()
const stack = await startStack({ dev: true, workerModel: values.model, say, logLevel: 'warn' })
let code = 1
// Ctrl-C stops the stack cleanly: the experiment goes back to the queue and the next demo resumes it.
let interrupted = false
process.on('SIGINT', () => {
  if (interrupted) return
  interrupted = true
  say('interrupted: stopping; run ./sys2ft demo again to resume this experiment')
  void stack.stop().then(() => process.exit(130))
})
try {
  const api = new ExperimentsApi(stack.urls.evaluation)
  const unfinished = (await api.list(100)).data.find((e) => e.preset === values.preset && !['succeeded', 'failed', 'cancelled'].includes(e.state))
  const exp = unfinished ?? (await api.create({ preset: values.preset }))
  say(unfinished ? `resuming experiment ${exp.id} (${exp.progress.done}/${exp.progress.total} cells done)` : `experiment ${exp.id}: ${exp.progress.total} cells`)
  say(`the ${values.preset} preset on ${values.model}; on a 2-core CPU expect about 10 minutes (measured: 10.2 min; the estimate updates as cells finish)`)
  const done = await follow(api, exp.id, { logEveryS: 20 })
  console.log(`\nexperiment ${done.id} ${done.state}${done.error ? `: ${done.error}` : ''} after ${((Date.now() - started) / 60_000).toFixed(1)} min\n`)
  if (done.results) console.log(formatResults(done.results))
  const dir = path.resolve(stack.config.dataDir, 'reports')
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${done.id}.html`)
  writeFileSync(file, await api.reportHtml(done.id))
  console.log(`\nHTML report: ${file}`)
  code = done.state === 'succeeded' ? 0 : 1
} catch (err) {
  say(`failed: ${(err as Error).message}`)
} finally {
  await stack.stop()
}
process.exit(code)
