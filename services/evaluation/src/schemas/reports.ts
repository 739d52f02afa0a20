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

export const ReportRun = Type.Object({
  id: Type.String(),
  label: Type.String({ description: 'Method as the report names it, e.g. "FT (naive-math) · qwen2.5-coder-0.5b-instruct".' }),
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
  summary: Type.Union([Summary, Type.Null()]),
})

export const ComparisonKind = Type.Union([Type.Literal('ft_icl_gap'), Type.Literal('gap_closed'), Type.Literal('overexposure'), Type.Literal('forgetting')], {
  description: '`ft_icl_gap` = acc(ICL) − acc(FT); `gap_closed` = (acc(FT) − acc(base)) / (acc(ICL) − acc(base)); `overexposure` = acc(FT+ICL) − acc(ICL) (negative: fine-tuning hurt in-context use); `forgetting` = acc(FT) − acc(base) on a control set (negative: knowledge lost).',
})

const ComparisonGroup = Type.Object({ n: Type.Integer(), value: Type.Union([Type.Number(), Type.Null()]), ci_low: Type.Union([Type.Number(), Type.Null()]), ci_high: Type.Union([Type.Number(), Type.Null()]) })

export const Comparison = Type.Object({
  kind: ComparisonKind,
  runs: Type.Record(Type.String(), Type.String(), { description: 'Role (base, icl, ft, ft_icl) → run id.' }),
  n: Type.Integer({ description: 'Questions all the runs share; the statistic and its paired bootstrap use exactly these.' }),
  estimate: Estimate,
  undefined_share: Type.Number({ description: 'Share of resamples where the statistic is undefined (gap_closed with acc(ICL) = acc(base)); left out of the interval.' }),
  by_domain: Type.Record(Type.String(), ComparisonGroup),
})

export const Report = Type.Object({
  object: Type.Literal('report'),
  generated_at: Type.String({ format: 'date-time' }),
  bootstrap: BootstrapInfo,
  domains: Type.Array(Type.String()),
  runs: Type.Array(ReportRun),
  comparisons: Type.Array(Comparison),
  notes: Type.Array(Type.String(), { description: 'Why an expected comparison is missing (no matching run, no shared questions, different scoring).' }),
})

export type ReportT = Static<typeof Report>
export type ReportRunT = Static<typeof ReportRun>
export type ComparisonT = Static<typeof Comparison>
