import { Type, type Static } from 'typebox'

const Num = Type.Union([Type.Number(), Type.Null()])

export const Estimate = Type.Object(
  { value: Num, ci_low: Num, ci_high: Num },
  { description: 'A value with its bootstrap interval (95% unless `bootstrap.level` says otherwise); null when there is nothing to estimate from.' },
)

export const GroupStats = Type.Object({
  n: Type.Integer({ description: 'Questions in the group.' }),
  correct: Type.Integer(),
  accuracy: Estimate,
  chance: Type.Number({ description: 'Accuracy of guessing: the mean of 1/options over the questions.' }),
  letter_mass: Type.Union([Type.Number(), Type.Null()], {
    description: '`loglik`: the mean over the questions of the probability the model puts on any option letter after the answer prefix (Σ exp(log p(letter))); a low value means the model wants to answer in another format (format drift after fine-tuning). Null for `generate`.',
  }),
})

export const Measure = Type.Union([Type.Literal('option_norm'), Type.Literal('option_sum'), Type.Literal('option_char_norm'), Type.Literal('letter')], {
  description:
    '`loglik` choice rule: the option text by log-likelihood per token (`option_norm`, the default), summed (`option_sum`, lm-eval\'s `acc` on the options task) or per character (`option_char_norm`, lm-eval\'s `acc_norm`), or the option letter (`letter`, lm-eval\'s `acc` on the letters task).',
})

export const BootstrapInfo = Type.Object({
  resamples: Type.Integer(),
  seed: Type.Integer(),
  level: Type.Number(),
  resampled: Type.Optional(Type.Literal('news_items', { description: 'What one resample draws: news items with all their questions (a cluster bootstrap; a control question is its own item). Absent on a summary stored by an earlier version, which resampled single questions: such a summary is recomputed when read.' })),
})

export const Summary = Type.Object({
  partial: Type.Boolean({ description: 'True until every question is scored (a running, failed or cancelled run).' }),
  questions: Type.Integer({ description: 'Questions scored.' }),
  total: Type.Integer({ description: 'Questions in the run.' }),
  primary: Type.Union([Measure, Type.Literal('generate')], { description: 'What `overall`, the groups and each result’s `correct` measure.' }),
  overall: GroupStats,
  by_domain: Type.Record(Type.String(), GroupStats, { description: 'Per news domain (per subject for a control set).' }),
  by_type: Type.Record(Type.String(), GroupStats, { description: 'Per question type (recall / implication; knowledge / reasoning).' }),
  measures: Type.Record(Type.String(), Estimate, {
    description: '`loglik`: accuracy under each choice rule (`option_norm`, `option_sum`, `option_char_norm`, `letter`). `generate`: `with_fallback` (unparseable answers decided by the log-likelihood fallback) and `parsed_only` (unparseable answers counted wrong).',
  }),
  unparsed: Type.Integer({ description: '`generate`: answers from which no option could be read.' }),
  truncated: Type.Integer({ description: '`generate`: answers cut off at `max_tokens` (finish_reason `length`).' }),
  fallback_correct: Type.Integer({ description: '`generate`: unparseable answers the fallback got right.' }),
  bootstrap: BootstrapInfo,
})

export type EstimateT = Static<typeof Estimate>
export type GroupStatsT = Static<typeof GroupStats>
export type MeasureT = Static<typeof Measure>
export type SummaryT = Static<typeof Summary>
