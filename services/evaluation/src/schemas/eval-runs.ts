import { Type, type Static } from 'typebox'
import { AnswerPrefixSchema, DEFAULT_ANSWER_PREFIX, DomainSchema, EVAL_TEMPLATE_VERSION } from '@sys2ft/dataset'
import { Measure, Summary } from './summary.ts'

export const Mode = Type.Union([Type.Literal('base'), Type.Literal('icl'), Type.Literal('ft'), Type.Literal('ft_icl')], {
  description: '`base`: the model, no news. `icl`: the news in context. `ft`: the adapter, no news. `ft_icl`: the adapter with the news in context (the curse of overexposure).',
})
export const Scoring = Type.Union([Type.Literal('loglik'), Type.Literal('generate')], {
  description: '`loglik`: the option with the highest log-likelihood (one batched /v1/score call per chunk of questions). `generate`: the model answers freely and the option is read from its answer.',
})
export const QuestionType = Type.Union([Type.Literal('recall'), Type.Literal('implication'), Type.Literal('knowledge'), Type.Literal('reasoning')])
const NonEmpty = <T extends Parameters<typeof Type.Array>[0]>(item: T, description: string) => Type.Array(item, { minItems: 1, maxItems: 10_000, uniqueItems: true, description })

export const Filter = Type.Object(
  {
    domains: Type.Optional(NonEmpty(DomainSchema, 'Only news items of these domains (news sets).')),
    item_keys: Type.Optional(NonEmpty(Type.String({ minLength: 1 }), 'Only these news items, by their id in the set (e.g. `mathematics-001`).')),
    question_types: Type.Optional(NonEmpty(QuestionType, 'Only questions of these types.')),
    question_keys: Type.Optional(NonEmpty(Type.String({ minLength: 1 }), 'Only these questions, by their id in the set (e.g. `mathematics-001-q2`).')),
    subjects: Type.Optional(NonEmpty(Type.String({ minLength: 1 }), 'Only control questions of these subjects (control sets).')),
  },
  { additionalProperties: false, description: 'Which questions of the set to ask; all of them when absent. Each list must be non-empty and every key must exist.' },
)
export type FilterT = Static<typeof Filter>

export const Options = Type.Object(
  {
    seed: Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'Seeds the option shuffle, sampling and the bootstrap. Default 0.' }),
    shuffle: Type.Boolean({ description: 'Shuffle each question’s options (a seeded permutation per question, kept with its result). Default true.' }),
    questions_per_call: Type.Integer({ minimum: 1, maximum: 128, description: 'Questions per worker call (loglik: all their options in one /v1/score call). Default 32 (loglik), 16 (generate).' }),
    template_version: Type.Literal(EVAL_TEMPLATE_VERSION, { description: 'Prompt template version (v2: the reply starts with `answer_prefix`).' }),
    answer_prefix: AnswerPrefixSchema(
      `The start of the assistant's reply that every scored continuation follows (not scored): loglik scores " A"… and " <option text>" after it; generate's forced final letter follows the answer and it. Default "${DEFAULT_ANSWER_PREFIX}"; "" scores right after the bare assistant start (the v1 prompt's letters).`,
    ),
    primary: Measure,
    reasoning: Type.Boolean({ description: '`generate`: reason step by step before the answer line. Default true.' }),
    max_tokens: Type.Integer({ minimum: 1, maximum: 4096, description: '`generate`: token budget per answer. Default 1024 with reasoning (256 cut most reasoning off before its letter), 16 without.' }),
    temperature: Type.Number({ minimum: 0, maximum: 2, description: '`generate`: 0 is greedy (the default).' }),
    unparsed: Type.Union([Type.Literal('fallback'), Type.Literal('wrong')], {
      description: '`generate`: how an answer that names no option counts in `accuracy`: `fallback` (default) forces a final letter: the answer, then `answer_prefix` on a new line, and the letter by log-likelihood; `wrong` counts it wrong. Both are reported.',
    }),
  },
  { additionalProperties: false },
)
export type OptionsT = Static<typeof Options>
export type ResolvedOptions = {
  seed: number
  shuffle: boolean
  questions_per_call: number
  template_version: typeof EVAL_TEMPLATE_VERSION
  answer_prefix: string
  primary?: Static<typeof Measure>
  reasoning?: boolean
  max_tokens?: number
  temperature?: number
  unparsed?: 'fallback' | 'wrong'
}

export const CreateEvalRun = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 256, description: 'Base model id, as the worker names it (e.g. `qwen2.5-coder-0.5b-instruct`). Must be the adapter’s base model.' }),
    adapter_id: Type.Optional(Type.String({ description: 'A trained adapter (`ad_…`); required by `ft` and `ft_icl`, refused by `base` and `icl`.' })),
    set_id: Type.String({ description: 'The news set (`ns_…`), or a control set (then only `base` and `ft`).' }),
    mode: Mode,
    scoring: Type.Optional(Scoring),
    filter: Type.Optional(Filter),
    options: Type.Optional(Type.Partial(Options, { additionalProperties: false })),
  },
  { additionalProperties: false },
)
export type CreateEvalRunT = Static<typeof CreateEvalRun>

export const RunState = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')])

export const EvalRun = Type.Object({
  id: Type.String({ examples: ['ev_0193a6f2c1e47c2b9f1d3e5a7b9c0d1e'] }),
  object: Type.Literal('eval_run'),
  model: Type.String(),
  adapter_id: Type.Union([Type.String(), Type.Null()]),
  set_id: Type.String(),
  mode: Mode,
  scoring: Scoring,
  filter: Filter,
  options: Type.Partial(Options),
  state: RunState,
  progress: Type.Object({ done: Type.Integer(), total: Type.Integer() }, { description: 'Questions scored / questions in the run.' }),
  attempts: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
  provenance: Type.Object({}, { additionalProperties: true, description: 'Prompt template version and hash, set content hash, question ids hash, seed, worker and adapter, service version.' }),
  summary: Type.Union([Summary, Type.Null()], { description: 'Accuracy with intervals; computed live while the run is not finished (`partial`).' }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})
export type EvalRunT = Static<typeof EvalRun>

export const EvalResult = Type.Object({
  question_id: Type.String(),
  question_key: Type.String({ description: 'The question’s id in its set.' }),
  domain: Type.Union([Type.String(), Type.Null()]),
  type: Type.String(),
  option_order: Type.Array(Type.Integer(), { description: '`option_order[k]` is the original index of the option shown at position k (letter A + k).' }),
  answer_index: Type.Integer({ description: 'The correct option, original index.' }),
  predicted_index: Type.Union([Type.Integer(), Type.Null()], { description: 'The chosen option, original index.' }),
  correct: Type.Boolean(),
  parsed: Type.Boolean({ description: '`generate`: whether an option could be read from the answer (otherwise the fallback chose).' }),
  raw_answer: Type.Union([Type.String(), Type.Null()]),
  prompt: Type.Unknown({ description: 'Exactly what the worker was sent for this question.' }),
  scores: Type.Unknown({ description: 'Per-option log-probabilities and token counts (shown order), the choice of each rule; or the answer’s parse and fallback.' }),
  created_at: Type.String({ format: 'date-time' }),
})

export const RunId = Type.Object({ id: Type.String() })

export const ListRunsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String({ description: 'Cursor: the next_cursor of the previous page.' })),
    state: Type.Optional(RunState),
    mode: Type.Optional(Mode),
    set_id: Type.Optional(Type.String()),
    adapter_id: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)

export const ResultsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String({ description: 'Cursor: the next_cursor of the previous page.' })),
    domain: Type.Optional(Type.String()),
    type: Type.Optional(QuestionType),
    correct: Type.Optional(Type.Boolean()),
    parsed: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type ResultsQueryT = Static<typeof ResultsQuery>

export const EventsQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'Only events after this event id.' })),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
)
export const RunEvent = Type.Object({
  id: Type.String(),
  type: Type.String(),
  state: Type.Union([Type.String(), Type.Null()]),
  message: Type.String(),
  data: Type.Unknown(),
  created_at: Type.String({ format: 'date-time' }),
})
