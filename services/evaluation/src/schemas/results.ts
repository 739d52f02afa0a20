import { Type, type Static, type TSchema } from 'typebox'
import { Mode } from './eval-runs.ts'
import { BudgetGroup, Comparison, TrainingBudget, TrainingDescription } from './reports.ts'

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

/** An accuracy with its interval and the questions behind it. */
export const ResultAccuracy = Type.Object({
  value: Nullable(Type.Number()),
  ci_low: Nullable(Type.Number()),
  ci_high: Nullable(Type.Number()),
  n: Type.Integer({ description: 'Questions.' }),
})

export const ResultRow = Type.Object({
  model: Type.String(),
  method: Mode,
  set: Type.Union([Type.Literal('news'), Type.Literal('control')]),
  label: Type.String({ description: 'The run named by what it is (the report’s label).' }),
  protocol: Type.Optional(Type.String()),
  samples: Type.Optional(Type.Integer({ description: 'Samples per news item asked of the generation run.' })),
  compute_level: Type.Optional(Type.Integer({ description: 'Matched-compute experiments: the reference model’s samples per news; rows with the same level had the same nominal training FLOPs.' })),
  seed: Type.Optional(Type.Integer()),
  learning_rate: Type.Optional(Type.Number()),
  epochs: Type.Optional(Type.Integer()),
  lora_r: Type.Optional(Type.Integer()),
  cell: Type.String(),
  eval_run_id: Type.String(),
  adapter_id: Nullable(Type.String()),
  training: Nullable(TrainingDescription),
  budget: Type.Optional(Nullable(TrainingBudget)),
  accuracy: ResultAccuracy,
  by_type: Type.Record(Type.String(), ResultAccuracy),
  by_domain: Type.Record(Type.String(), ResultAccuracy),
  icl_gain: Nullable(Comparison),
  ft_icl_gap: Nullable(Comparison),
  gap_closed: Nullable(Comparison),
  overexposure: Nullable(Comparison),
  forgetting: Nullable(Comparison),
  compute_flops: Nullable(Type.Number()),
  generation_flops: Nullable(Type.Number({ description: 'The compute of making the adapter’s data (2·N per token generated or read with the news in context).' })),
})

export const ExperimentResults = Type.Object({
  rows: Type.Array(ResultRow, { description: 'One per evaluation cell: base, ICL, each adapter’s FT (and FT+ICL), the control set.' }),
  chance: Type.Number(),
  notes: Type.Array(Type.String()),
  budget_groups: Type.Optional(Type.Array(BudgetGroup, { description: 'The FT rows grouped by training budget, each group’s rows compared at that budget (acc(b) − acc(a)); absent in results stored before budgets were grouped.' })),
  report_runs: Type.Array(Type.String(), { description: 'The eval runs behind the table (`GET /reports?runs=…`).' }),
}, { description: 'The result table: accuracy per row overall, per type and per domain with 95% cluster-bootstrap intervals; the ICL gain on ICL rows and on FT rows (the guard of their gap closed); FT-ICL gap and gap closed (null with `undefined_reason` unless the ICL gain’s interval lies above 0) on FT rows; overexposure; forgetting.' })

export type ResultRowT = Static<typeof ResultRow>
export type ExperimentResultsT = Static<typeof ExperimentResults>
