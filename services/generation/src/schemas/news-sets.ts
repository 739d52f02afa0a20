import { Type, type Static } from 'typebox'
import { AnswerPrefixSchema, ControlQuestion, DEFAULT_ANSWER_PREFIX, DomainSchema, MAX_SET_ITEMS, NewsItem } from '@sys2ft/dataset'

export const SetKind = Type.Union([Type.Literal('news'), Type.Literal('control')])

export const NewsSet = Type.Object(
  {
    id: Type.String({ examples: ['ns_0193a6f2c1e47c2b9f1d3e5a7b9c0d1e'] }),
    object: Type.Literal('news_set'),
    name: Type.String(),
    description: Type.String(),
    kind: SetKind,
    version: Type.String(),
    builtin: Type.Boolean({ description: 'Shipped with the product; read-only.' }),
    item_count: Type.Integer(),
    question_count: Type.Integer(),
    content_sha256: Type.String(),
    domains: Type.Record(Type.String(), Type.Integer(), { description: 'Items per domain (questions per subject for a control set).' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'NewsSet' },
)
export type NewsSetOut = Static<typeof NewsSet>

export const ImportBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'Unique name of the set.' }),
    description: Type.String({ maxLength: 2000, default: '' }),
    kind: Type.Union([Type.Literal('news'), Type.Literal('control')], { default: 'news', description: '`news`: news items with questions; `control`: general-knowledge questions.' }),
    version: Type.String({ minLength: 1, maxLength: 64, default: '1' }),
    items: Type.Array(Type.Object({}, { additionalProperties: true }), { minItems: 1, maxItems: MAX_SET_ITEMS, description: 'News items (or control questions) in the format of packages/dataset/FORMAT.md, at most 10,000; validated as a whole (the answer names at most 200 bad lines). `answer_text` may be left out (taken from `answer_index`); question ids repeated across items are stored as `<item id>-<question id>`.' }),
  },
  { additionalProperties: false },
)
export type ImportBodyType = Static<typeof ImportBody>

export const JsonlImportQuery = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }),
    description: Type.String({ maxLength: 2000, default: '' }),
    kind: Type.Union([Type.Literal('news'), Type.Literal('control')], { default: 'news' }),
    version: Type.String({ minLength: 1, maxLength: 64, default: '1' }),
  },
  { additionalProperties: false },
)

export const ImportResult = Type.Object({
  set: NewsSet,
  warnings: Type.Array(Type.Object({ line: Type.Optional(Type.Integer()), path: Type.String(), message: Type.String() }), { description: 'Quality rules of the shipped set that this set does not meet (balance, length bias, 5 questions…).' }),
})

export const ListSetsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String()),
    kind: Type.Optional(SetKind),
    builtin: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export const ListItemsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String({ description: 'Cursor: the key of the last item of the previous page.' })),
    domain: Type.Optional(DomainSchema),
  },
  { additionalProperties: false },
)

export const StoredNewsItem = Type.Intersect([NewsItem, Type.Object({ set_id: Type.String() })])
export const SetId = Type.Object({ id: Type.String() })
export { NewsItem, ControlQuestion }

export const ExportQuery = Type.Object(
  {
    format: Type.Union([Type.Literal('jsonl'), Type.Literal('lm-eval')], {
      default: 'jsonl',
      description: '`jsonl`: the set in the import format. `lm-eval`: lm-evaluation-harness tasks (YAML + JSONL) that ask the questions exactly as an evaluation run does.',
    }),
    modes: Type.Array(Type.Union([Type.Literal('base'), Type.Literal('icl')]), {
      minItems: 1, maxItems: 2, uniqueItems: true, default: ['base', 'icl'],
      description: '`lm-eval`: tasks without the news (`base`; with `peft=` for `ft`) and with it (`icl`; `ft_icl`). A control set has `base` only.',
    }),
    seed: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0, description: '`lm-eval`: the option shuffle’s seed, as an eval run’s `options.seed`.' }),
    shuffle: Type.Boolean({ default: true, description: '`lm-eval`: shuffle the options, as an eval run’s `options.shuffle`.' }),
    answer_prefix: AnswerPrefixSchema('`lm-eval`: the reply’s start (lm-eval’s `gen_prefix`), as an eval run’s `options.answer_prefix`.', { default: DEFAULT_ANSWER_PREFIX }),
    dir: Type.String({ minLength: 1, maxLength: 1000, default: '.', description: '`lm-eval`: the directory lm_eval will read the JSONL from (its `data_files` are relative to its working directory).' }),
  },
  { additionalProperties: false },
)

export const LmEvalExport = Type.Object({
  object: Type.Literal('lm_eval_export'),
  set: Type.Object({ id: Type.String(), name: Type.String(), content_sha256: Type.String() }),
  questions: Type.Integer(),
  tasks: Type.Array(Type.Object({ name: Type.String(), mode: Type.String(), choices: Type.String({ description: '`letters` (acc = the `letter` rule) or `options` (acc = `option_sum`, acc_norm = `option_char_norm`).' }) })),
  files: Type.Array(Type.Object({ path: Type.String(), content: Type.String() }), { description: 'Write each under `dir`, then run `command` there.' }),
  command: Type.String({ description: 'The lm_eval command line for these tasks (fill in the model directory; add `,peft=<adapter dir>` for ft).' }),
})
