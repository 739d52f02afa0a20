import { writeFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { PRESETS, PROTOCOLS } from '@sys2ft/evaluation/experiment-spec'
import { ExperimentsApi, NewsSetsApi } from './api.ts'
import { follow } from './follow.ts'
import { auditNoNews } from './audit.ts'
import { runLmEval } from './lm-eval.ts'
import { formatResults } from './table.ts'

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean)
const protocolList = (v: string) => {
  const names = list(v)
  const unknown = names.filter((n) => !(PROTOCOLS as string[]).includes(n))
  if (unknown.length) throw new InvalidArgumentError(`not a protocol: ${unknown.join(', ')} (the protocols are ${PROTOCOLS.join(', ')})`)
  return names
}
const ints = (v: string) => list(v).map((s) => Number.parseInt(s, 10))
const nums = (v: string) => list(v).map(Number)
/** `loglik`, `generate`, or `implication=generate,recall=loglik` (the service checks the names). */
const scoringSpec = (v: string) => (v.includes('=') ? Object.fromEntries(list(v).map((kv) => kv.split('=').map((s) => s.trim()))) : v)

const program = new Command('sys2ft').description('Run Sys2-FT experiments against a running sys2ft stack.')
program
  .option('--url <url>', 'the evaluation service (it coordinates experiments)', process.env.SYS2FT_EVALUATION_URL ?? 'http://127.0.0.1:3003')
  .option('--key <key>', 'API key (default: $SYS2FT_API_KEY)', process.env.SYS2FT_API_KEY)

const api = () => new ExperimentsApi(program.opts().url, program.opts().key)
const experiment = program.command('experiment').description('create and follow experiments')

async function finish(id: string, opts: { json?: boolean; report?: string }) {
  const e = await follow(api(), id)
  if (opts.json) console.log(JSON.stringify(e, null, 2))
  else {
    console.log(`\nexperiment ${e.id} ${e.state}${e.error ? `: ${e.error}` : ''}`)
    if (e.results) console.log(`\n${formatResults(e.results)}`)
  }
  if (opts.report) {
    writeFileSync(opts.report, await api().reportHtml(id))
    console.error(`HTML report: ${opts.report}`)
  }
  process.exitCode = e.state === 'succeeded' ? 0 : 1
}

experiment
  .command('run')
  .description('start an experiment, show its progress, print the result table')
  .addOption(new Option('--preset <preset>', 'a research table').choices(PRESETS))
  .option('--name <name>')
  .option('--model <ids>', 'base model(s), comma-separated', list)
  .option('--domains <list>', 'e.g. mathematics,coding', list)
  .option('--items-per-domain <n>', 'the first N news items of each domain', (v) => Number.parseInt(v, 10))
  .option('--baseline-types <list>', 'base and ICL also ask these types (recall,implication) of every news item, beyond the trained news', list)
  .option('--baseline-items-per-domain <n>', 'with --baseline-types: only the first N news items of each domain', (v) => Number.parseInt(v, 10))
  .option('--protocols <list>', `comma-separated, of ${PROTOCOLS.join(', ')}`, protocolList)
  .option('--samples <n,...>', 'self-play samples per news item', ints)
  .option('--seeds <n,...>', 'seeds', ints)
  .option('--lr <x,...>', 'learning-rate grid', nums)
  .option('--epochs <n,...>', 'epochs grid', ints)
  .option('--scoring <method>', 'loglik | generate, or per question type: implication=generate[,recall=loglik]', scoringSpec)
  .option('--answer-prefix <text>', 'the start of the scored reply (default "The answer is")')
  .option('--ft-icl', 'also evaluate adapters with the news in context')
  .option('--control', 'also evaluate on the control set (forgetting)')
  .option('--no-wait', 'print the id and return')
  .option('--json', 'print the final experiment as JSON')
  .option('--report <file>', 'write the HTML report to this file')
  .action(async (o) => {
    const body: Record<string, unknown> = {
      ...(o.preset && { preset: o.preset }),
      ...(o.name && { name: o.name }),
      ...(o.model && { models: o.model }),
      ...(o.domains && { domains: o.domains }),
      ...(o.itemsPerDomain && { items_per_domain: o.itemsPerDomain }),
      ...((o.baselineTypes || o.baselineItemsPerDomain) && { baseline: { ...(o.baselineTypes && { question_types: o.baselineTypes }), ...(o.baselineItemsPerDomain && { items_per_domain: o.baselineItemsPerDomain }) } }),
      ...(o.protocols && { protocols: o.protocols }),
      ...(o.samples && { samples_per_news: o.samples }),
      ...(o.seeds && { seeds: o.seeds }),
      ...((o.lr || o.epochs) && { training: { ...(o.lr && { learning_rate: o.lr }), ...(o.epochs && { epochs: o.epochs }) } }),
      ...(o.scoring && { scoring: o.scoring }),
      ...(o.answerPrefix !== undefined && { evaluation: { answer_prefix: o.answerPrefix } }),
      ...(o.ftIcl && { ft_icl: true }),
      ...(o.control && { control: true }),
    }
    const e = await api().create(body)
    console.error(`experiment ${e.id}: ${e.progress.total} cells (follow again with: sys2ft experiment watch ${e.id})`)
    if (o.wait === false) return console.log(e.id)
    await finish(e.id, o)
  })

experiment.command('watch <id>').description('follow a running experiment').option('--json').option('--report <file>').action((id, o) => finish(id, o))
experiment.command('status <id>').description('one look at an experiment').action(async (id) => console.log(JSON.stringify(await api().get(id), null, 2)))
experiment
  .command('results <id>')
  .description('the result table (or CSV)')
  .option('--csv')
  .action(async (id, o) => {
    if (o.csv) return console.log(await api().resultsCsv(id))
    const e = await api().get(id)
    console.log(e.results ? formatResults(e.results) : `no results yet (${e.state})`)
  })
experiment.command('cancel <id>').action(async (id) => console.log((await api().cancel(id)).state))
experiment.command('resume <id>').description('resume a failed or cancelled experiment; finished cells are kept').action(async (id) => finish((await api().resume(id)).id, {}))
experiment.command('list').action(async () => {
  for (const e of (await api().list()).data) console.log(`${e.id}  ${e.state.padEnd(9)}  ${e.progress.done}/${e.progress.total}  ${e.name}`)
})

program
  .command('lm-eval')
  .description('ask a set\'s questions through lm-evaluation-harness, exactly as an eval run asks them (letters: acc = letter; options: acc = option_sum, acc_norm = option_char_norm)')
  .requiredOption('--set <id|name>', 'the news set')
  .addOption(new Option('--mode <mode>', 'ft/ft_icl: the base/icl tasks with --adapter-dir as peft=').choices(['base', 'icl', 'ft', 'ft_icl']).default('base'))
  .requiredOption('--model-dir <dir>', 'the local model directory (e.g. .cache/models/qwen2.5-coder-0.5b-instruct)')
  .option('--adapter-dir <dir>', 'an adapter trained by sys2ft (the worker\'s adapter directory/<name>)')
  .option('--out <dir>', 'where the tasks and lm_eval\'s results go', 'lm-eval-out')
  .option('--seed <n>', 'the option shuffle\'s seed, as the eval run\'s', (v) => Number.parseInt(v, 10), 0)
  .option('--answer-prefix <text>', 'as the eval run\'s options.answer_prefix (default: the product\'s)')
  .option('--batch-size <n>', 'lm_eval --batch_size', (v) => Number.parseInt(v, 10), 8)
  .option('--generation-url <url>', 'the generation service (it owns the news sets)', process.env.SYS2FT_GENERATION_URL ?? 'http://127.0.0.1:3001')
  .action(async (o) => {
    process.exitCode = await runLmEval(new NewsSetsApi(o.generationUrl, program.opts().key), o)
  })

program
  .command('audit-no-news')
  .description('ask every question of a set with no news in context; list those the model answers right with confidence (suspects: answerable from prior knowledge)')
  .requiredOption('--set <id|name>', 'the news set')
  .option('--model <id>', 'the model (a worker must serve it)', 'qwen2.5-coder-1.5b-instruct')
  .option('--threshold <p>', 'a suspect: right with probability above this over the four letters', Number, 0.8)
  .option('--domains <list>', 'only these domains', list)
  .option('--json', 'print the audit as JSON')
  .option('--generation-url <url>', 'the generation service (it owns the news sets)', process.env.SYS2FT_GENERATION_URL ?? 'http://127.0.0.1:3001')
  .action(async (o) => {
    process.exitCode = await auditNoNews({ ...o, url: program.opts().url, key: program.opts().key })
  })

program.parseAsync().catch((err: Error) => {
  console.error(`sys2ft: ${err.message}`)
  process.exit(1)
})
