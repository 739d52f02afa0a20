import { DEFAULT_ANSWER_PREFIX, EVAL_TEMPLATE_SHA256, EVAL_TEMPLATE_VERSION, evalMessages, letterOf, optionOrder } from './eval-prompt.ts'

/**
 * A set's questions as lm-evaluation-harness tasks (`multiple_choice`, run with
 * `--apply_chat_template`): the user message is the product's evaluation prompt (the same
 * `evalMessages`), `gen_prefix` is the answer prefix, and lm-eval joins it to each choice with its
 * `target_delimiter` " " — exactly the product's " A" / " <option text>" continuations. One task per
 * mode and per kind of choice:
 * - `…_letters`: the choices are the letters; lm-eval's `acc` is the product's `letter` rule;
 * - `…_options`: the choices are the options' texts; `acc` is `option_sum`, `acc_norm` (per
 *   character) is `option_char_norm`. The product's `option_norm` (per token) has no lm-eval metric;
 *   it follows from the per-choice log-likelihoods that `--log_samples` writes.
 * `ft` is the `base` task run with `peft=<adapter>`, `ft_icl` the `icl` task with it.
 */
export interface LmEvalQuestion {
  /** The database id: seeds the option order, as an evaluation run does. */
  id: string
  key: string
  type: string
  domain: string | null
  question: string
  options: string[]
  answer_index: number
  news: { title: string; date: string; text: string } | null
}

export const LM_EVAL_MODES = ['base', 'icl'] as const
export type LmEvalMode = (typeof LM_EVAL_MODES)[number]
export const LM_EVAL_CHOICES = ['letters', 'options'] as const

export interface LmEvalExportOptions {
  /** The set's name: task names are `sys2ft_<name>_<mode>_<letters|options>`. */
  setName: string
  modes: readonly LmEvalMode[]
  seed: number
  shuffle: boolean
  answerPrefix?: string
  /** Where lm_eval will find the JSONL files (lm-eval reads `data_files` relative to its working directory). */
  dir?: string
}

export interface LmEvalFile {
  path: string
  content: string
}
export interface LmEvalTask {
  name: string
  mode: LmEvalMode
  choices: (typeof LM_EVAL_CHOICES)[number]
}

const slug = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '')
export const lmEvalTaskName = (setName: string, mode: LmEvalMode, choices: LmEvalTask['choices']) => `sys2ft_${slug(setName)}_${mode}_${choices}`

export function lmEvalExport(questions: readonly LmEvalQuestion[], opts: LmEvalExportOptions): { tasks: LmEvalTask[]; files: LmEvalFile[] } {
  const prefix = opts.answerPrefix ?? DEFAULT_ANSWER_PREFIX
  const dir = opts.dir ?? '.'
  const tasks: LmEvalTask[] = []
  const files: LmEvalFile[] = []
  for (const mode of opts.modes) {
    const data = `${lmEvalTaskName(opts.setName, mode, 'letters').replace(/_letters$/, '')}.jsonl`
    const docs = questions.map((q) => {
      const order = optionOrder(q.options.length, opts.seed, q.id, opts.shuffle)
      const shown = order.map((i) => q.options[i]!)
      const [message] = evalMessages({ question: q.question, shown, news: mode === 'icl' ? q.news : null }, 'loglik')
      return { id: q.key, question_id: q.id, type: q.type, domain: q.domain, query: message!.content, letters: shown.map((_, i) => letterOf(i)), options: shown, gold: order.indexOf(q.answer_index), option_order: order }
    })
    files.push({ path: data, content: docs.map((d) => JSON.stringify(d)).join('\n') + '\n' })
    for (const choices of LM_EVAL_CHOICES) {
      const name = lmEvalTaskName(opts.setName, mode, choices)
      tasks.push({ name, mode, choices })
      const config = {
        task: name,
        dataset_path: 'json',
        dataset_kwargs: { data_files: { test: `${dir}/${data}` } },
        test_split: 'test',
        output_type: 'multiple_choice',
        // field names, not templates: lm-eval takes the document's value as it is
        doc_to_text: 'query',
        doc_to_choice: choices,
        doc_to_target: 'gold',
        ...(prefix ? { gen_prefix: prefix } : {}),
        target_delimiter: ' ',
        metric_list: [{ metric: 'acc', aggregation: 'mean', higher_is_better: true }, { metric: 'acc_norm', aggregation: 'mean', higher_is_better: true }],
        metadata: { version: 2, sys2ft: { template_version: EVAL_TEMPLATE_VERSION, template_sha256: EVAL_TEMPLATE_SHA256, answer_prefix: prefix, seed: opts.seed, shuffle: opts.shuffle, mode } },
      }
      // JSON is YAML: no YAML writer needed, and no quoting of the prompt's text can go wrong
      files.push({ path: `${name}.yaml`, content: `# sys2ft lm-eval task (run with --apply_chat_template); written by GET /news-sets/{id}/export?format=lm-eval\n${JSON.stringify(config, null, 2)}\n` })
    }
  }
  return { tasks, files }
}
