import { Type, type Static } from 'typebox'
import { Mode, Scoring } from './eval-runs.ts'
import { BootstrapInfo, Estimate, Summary } from './summary.ts'

export const ReportQuery = Type.Object(
  {
    runs: Type.String({
      pattern: '^[^,]+(,[^,]+)*$',
      description: 'Comma-separated eval run ids (1 to 50), in the order the report shows them; comparisons pair runs on the questions they share.',
      examples: ['ev_0193a6f2c1e47c2b9f1d3e5a7b9c0d1e,ev_0193a6f2c1e47c2b9f1d3e5a7b9c0d1f'],
    }),
    format: Type.Union([Type.Literal('json'), Type.Literal('csv'), Type.Literal('html')], { default: 'json', description: '`json`, `csv` (one row per run × group and per comparison), or `html` (tables and charts, self-contained).' }),
  },
  { additionalProperties: false },
)

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const TrainingDescription = Type.Object(
  {
    protocol: Type.String({ description: 'The self-play protocol of the adapter’s data (a registered protocol, `+verify` when its verify stage ran); `naive` for a news set used directly; several joined by `+`.' }),
    samples_per_news: Nullable(Type.Integer({ description: 'Samples asked per news item (the generation run’s option).' })),
    news_in_context: Type.Boolean({ description: 'The news preceded the generated text in training (contextual shadowing).' }),
    replay: Type.Integer({ description: 'Copies of the news text mixed in per item.' }),
    learning_rate: Nullable(Type.Number()),
    epochs: Nullable(Type.Integer()),
    lora_r: Nullable(Type.Integer()),
    seed: Nullable(Type.Integer()),
    token_budget: Nullable(Type.Integer({ description: 'Matched compute: the tokens per epoch its training spent (hyperparameters.token_budget); null: every sample once per epoch.' })),
    generation_tokens: Nullable(Type.Integer({ description: 'Tokens the model processed making the adapter’s data (prompt + completion tokens of its generation runs): the self-play compute beside the training compute.' })),
  },
  { description: 'What the adapter is: how its training data was made and how it was trained (from its training job and generation run).' },
)

export const TrainingBudget = Type.Object(
  {
    group: Type.String({ description: 'The budget group (`budget_groups[].key`): the FT runs of one model, mode, set and scoring trained at this budget.' }),
    label: Type.String({ description: 'The budget at a glance, e.g. "24k tok (12k tok/ep × 2 ep)" or "≈1.00e12 FLOPs".' }),
    basis: Type.Union([Type.Literal('token_budget'), Type.Literal('flops')], {
      description: '`token_budget`: the training spent a token budget (hyperparameters.token_budget); runs with the same token budget per epoch × epochs share a group. `flops`: no token budget; runs whose training FLOPs lie within 10% of the group’s smallest share it.',
    }),
    tokens: Nullable(Type.Integer({ description: '`token_budget` basis: the token budget per epoch × epochs, the tokens the training was allowed.' })),
  },
  { description: 'The training budget an FT run was trained at, so rows are compared at equal compute only within one budget.' },
)

export const ReportRun = Type.Object({
  id: Type.String(),
  label: Type.String({ description: 'Method as the report names it, by what it is, e.g. "FT · self_qa · 8/news · lr 2e-4 · 2 ep · qwen2.5-coder-0.5b-instruct".' }),
  model: Type.String(),
  adapter_id: Type.Union([Type.String(), Type.Null()]),
  adapter_name: Type.Union([Type.String(), Type.Null()]),
  mode: Mode,
  scoring: Scoring,
  primary: Type.String(),
  set_id: Type.String(),
  set_name: Type.String(),
  set_kind: Type.Union([Type.Literal('news'), Type.Literal('control')]),
  state: Type.String(),
  compute_flops: Type.Union([Type.Number(), Type.Null()], { description: 'The adapter’s training compute (adapters.compute.flops), when it carries it.' }),
  generation_flops: Type.Union([Type.Number(), Type.Null()], { description: 'The compute of making its data: 2·N per token the generating model processed (forward passes only; N = the adapter’s total parameters).' }),
  training: Nullable(TrainingDescription),
  budget: Nullable(TrainingBudget),
  series: Type.String({ description: 'The chart series the run belongs to: mode, protocol (with shadowing and replay) and model, e.g. "FT self_qa · qwen2.5-coder-0.5b-instruct".' }),
  summary: Type.Union([Summary, Type.Null()]),
})

export const ComparisonKind = Type.Union([Type.Literal('icl_gain'), Type.Literal('ft_icl_gap'), Type.Literal('gap_closed'), Type.Literal('overexposure'), Type.Literal('forgetting'), Type.Literal('budget_diff')], {
  description: '`icl_gain` = acc(ICL) − acc(base): what the news in context buys; `ft_icl_gap` = acc(ICL) − acc(FT); `gap_closed` = (acc(FT) − acc(base)) / (acc(ICL) − acc(base)), only where the ICL gain’s interval lies above 0; `overexposure` = acc(FT+ICL) − acc(ICL) (negative: fine-tuning hurt in-context use); `forgetting` = acc(FT) − acc(base) on a control set (negative: knowledge lost); `budget_diff` = acc(b) − acc(a), two adapters trained at one budget (roles `a`, `b`; only in `budget_groups`).',
})

export const ComparisonGroup = Type.Object({
  n: Type.Integer({ description: 'Questions all the runs share in this group; the statistic and its bootstrap use exactly these.' }),
  items: Type.Integer({ description: 'News items those questions come from: the clusters the bootstrap resamples (a control question is its own cluster).' }),
  means: Type.Record(Type.String(), Type.Union([Type.Number(), Type.Null()]), { description: 'Role → that run’s accuracy on exactly these questions.' }),
  estimate: Type.Object(Estimate.properties, { description: 'The statistic with its paired cluster-bootstrap interval; all null for `gap_closed` when it is undefined (see `undefined_reason`).' }),
  undefined_share: Type.Number({ description: 'Share of resamples where the statistic is undefined (gap_closed with acc(ICL) ≤ acc(base)); left out of the interval.' }),
  icl_gain: Type.Union([Estimate, Type.Null()], { description: '`gap_closed` only: acc(ICL) − acc(base) on the same resamples, the guard: gap closed is shown only when this interval lies above 0.' }),
  undefined_reason: Type.Union([Type.String(), Type.Null()], { description: 'Why the statistic is null here, with the numbers, e.g. "undefined: ICL does not beat base on these questions …".' }),
})

export const Comparison = Type.Object({
  kind: ComparisonKind,
  runs: Type.Record(Type.String(), Type.String(), { description: 'Role (base, icl, ft, ft_icl) → run id.' }),
  ...ComparisonGroup.properties,
  by_domain: Type.Record(Type.String(), ComparisonGroup),
  by_type: Type.Record(Type.String(), ComparisonGroup, { description: 'Per question type (recall and implication behave differently at small scale).' }),
})

export const BudgetGroup = Type.Object(
  {
    key: Type.String({ description: 'Names the group in this report (`b1`, `b2`, … in the order of its first run); the runs’ `budget.group`.' }),
    label: TrainingBudget.properties.label,
    basis: TrainingBudget.properties.basis,
    tokens: TrainingBudget.properties.tokens,
    flops: Type.Object({ min: Nullable(Type.Number()), max: Nullable(Type.Number()) }, { description: 'The training FLOPs its runs report (adapters.compute.flops), smallest and largest.' }),
    model: Type.String(),
    mode: Mode,
    set_id: Type.String(),
    runs: Type.Array(Type.String(), { description: 'Its eval runs, in the report’s order.' }),
    comparisons: Type.Array(Comparison, { description: 'Every pair of its runs (a before b in the report’s order): acc(b) − acc(a) on their shared questions, with the paired cluster-bootstrap interval, overall, per domain and per type.' }),
  },
  { description: 'FT runs of one model, mode, set and scoring trained at one budget: the rows that are compared at equal compute.' },
)

export const Report = Type.Object({
  object: Type.Literal('report'),
  generated_at: Type.String({ format: 'date-time' }),
  bootstrap: BootstrapInfo,
  domains: Type.Array(Type.String()),
  runs: Type.Array(ReportRun),
  comparisons: Type.Array(Comparison),
  budget_groups: Type.Array(BudgetGroup, { description: 'The FT runs grouped by training budget, each group’s runs compared at that budget.' }),
  notes: Type.Array(Type.String(), { description: 'Why an expected comparison is missing (no matching run, no shared questions, different scoring); where FT runs of one model, mode and set were trained at different budgets.' }),
})

export type ReportT = Static<typeof Report>
export type ReportRunT = Static<typeof ReportRun>
export type TrainingDescriptionT = Static<typeof TrainingDescription>
export type ComparisonT = Static<typeof Comparison>
export type ComparisonGroupT = Static<typeof ComparisonGroup>
export type ComparisonKindT = Static<typeof ComparisonKind>
export type TrainingBudgetT = Static<typeof TrainingBudget>
export type BudgetGroupT = Static<typeof BudgetGroup>
