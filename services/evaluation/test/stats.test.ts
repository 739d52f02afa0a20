// Bootstrap intervals on constructed examples, the paired cluster bootstrap, gap closed and its
// guard, seeded option shuffles, summaries. Coverage on simulated data: coverage.test.ts.
import t from 'tap'
import { bootstrapMean, clusterBootstrap } from '../src/domain/stats.ts'
import { optionOrder } from '../src/domain/random.ts'
import { summarize, type ScoredQuestion } from '../src/domain/summary.ts'
import { compareRuns, type RunOutcomes } from '../src/domain/compare.ts'

const settings = { resamples: 2000, seed: 7, level: 0.95 }
const outcomes = (n: number, correct: number) => Array.from({ length: n }, (_, i) => (i < correct ? 1 : 0))
/** Each question its own cluster: the per-question bootstrap. */
const singles = (n: number) => Array.from({ length: n }, (_, i) => `q${i}`)

t.test('the accuracy interval contains the truth and has the binomial width', async (t) => {
  // 300 of 400 right: p = 0.75, standard error sqrt(p(1-p)/n) = 0.02165, a 95% interval ≈ ±1.96 SE
  const e = bootstrapMean(outcomes(400, 300), singles(400), settings)
  t.equal(e.value, 0.75)
  t.ok(e.ci_low! < 0.75 && 0.75 < e.ci_high!, `[${e.ci_low}, ${e.ci_high}] contains 0.75`)
  const expected = 2 * 1.96 * Math.sqrt((0.75 * 0.25) / 400)
  const width = e.ci_high! - e.ci_low!
  t.ok(Math.abs(width - expected) / expected < 0.1, `width ${width.toFixed(4)} within 10% of ${expected.toFixed(4)}`)
  t.same(bootstrapMean(outcomes(400, 300), singles(400), settings), e, 'same seed, same interval')
  t.not(bootstrapMean(outcomes(400, 300), singles(400), { ...settings, seed: 8 }).ci_low, e.ci_low, 'another seed, another resampling')
  t.same(bootstrapMean([], [], settings), { value: null, ci_low: null, ci_high: null }, 'nothing to estimate from')
  t.same(bootstrapMean(outcomes(10, 10), singles(10), settings), { value: 1, ci_low: 1, ci_high: 1 }, 'all right: a degenerate interval')
})

t.test('cluster bootstrap: whole items are resampled, so correlated questions widen the interval', async (t) => {
  // 80 items × 5 questions; an item is all right or all wrong (the extreme of correlation): the
  // effective sample is the 80 items, SE = sqrt(.5·.5/80) = 0.0559, not sqrt(.5·.5/400) = 0.025
  const items = Array.from({ length: 400 }, (_, i) => `item${Math.floor(i / 5)}`)
  const xs = items.map((_, i) => (Math.floor(i / 5) % 2 === 0 ? 1 : 0))
  const byItem = bootstrapMean(xs, items, settings)
  const byQuestion = bootstrapMean(xs, singles(400), settings)
  const width = (e: { ci_low: number | null; ci_high: number | null }) => e.ci_high! - e.ci_low!
  t.ok(Math.abs(width(byItem) - 2 * 1.96 * 0.0559) / (2 * 1.96 * 0.0559) < 0.12, `item-level width ${width(byItem).toFixed(4)}`)
  t.ok(Math.abs(width(byQuestion) - 2 * 1.96 * 0.025) / (2 * 1.96 * 0.025) < 0.12, `question-level width ${width(byQuestion).toFixed(4)}`)
  // the same items give the same resamples whichever column is resampled: runs stay paired
  const a = clusterBootstrap([xs, xs.map((x) => 1 - x)], items, { sum: ([p, q]) => p! + q! }, settings, 'k').sum
  t.same([a.ci_low, a.ci_high], [1, 1], 'two complementary runs resampled together always sum to 1')
  t.same(clusterBootstrap([xs], items, { m: ([p]) => p! }, settings, 'k').m, clusterBootstrap([xs], [...items], { m: ([p]) => p! }, settings, 'k').m, 'seeded by the items')
  t.same(clusterBootstrap([xs], items, { m: ([p]) => p! }, { ...settings, resamples: 0 }, 'k').m, { value: 0.5, ci_low: null, ci_high: null, undefined_share: 0 }, 'no resamples: the value alone')
})

t.test('paired bootstrap of a gap: the pairing narrows the interval to the spread of the differences', async (t) => {
  // ICL right on 240 of 400, FT right on 160: FT's right answers are a subset of ICL's (strongly paired)
  const icl = outcomes(400, 240)
  const ft = outcomes(400, 160)
  const gap = clusterBootstrap([icl, ft], singles(400), { gap: ([a, b]) => a! - b! }, settings).gap
  t.ok(Math.abs(gap.value! - 0.2) < 1e-12)
  t.ok(gap.ci_low! < 0.2 && 0.2 < gap.ci_high!)
  // differences d_i are 1 on 80 questions, else 0: SE = sd(d)/sqrt(n) = sqrt(0.2·0.8/400) = 0.02
  const expected = 2 * 1.96 * 0.02
  const width = gap.ci_high! - gap.ci_low!
  t.ok(Math.abs(width - expected) / expected < 0.12, `paired width ${width.toFixed(4)} ≈ ${expected.toFixed(4)}`)
  // unpaired, the two errors would add: sqrt(.6·.4/400 + .4·.6/400) = 0.0346, a far wider interval
  t.ok(width < 2 * 1.96 * 0.0346 * 0.8, 'narrower than an unpaired interval')
})

t.test('option order: a seeded permutation per question, the same on every call', async (t) => {
  const a = optionOrder(4, 0, 'q_1', true)
  t.same([...a].sort(), [0, 1, 2, 3])
  t.same(optionOrder(4, 0, 'q_1', true), a, 'same seed and question, same order')
  t.same(optionOrder(4, 0, 'q_1', false), [0, 1, 2, 3], 'no shuffle')
  const positions = [0, 0, 0, 0]
  for (let i = 0; i < 4000; i++) positions[optionOrder(4, 3, `q_${i}`, true).indexOf(0)]!++
  t.ok(positions.every((p) => p > 850 && p < 1150), `the first option lands evenly: ${positions.join(', ')}`)
})

t.test('summary: groups, chance, counts, rules, unparsed', async (t) => {
  const rows: ScoredQuestion[] = [
    ...Array.from({ length: 6 }, (_, i) => ({ question_id: `a${i}`, cluster: `n${Math.floor(i / 3)}`, domain: 'mathematics', type: 'recall', correct: i < 4, parsed: true, options: 4, correct_by: { with_fallback: i < 4, parsed_only: i < 4 }, letter_mass: null, truncated: false })),
    ...Array.from({ length: 4 }, (_, i) => ({ question_id: `b${i}`, cluster: 'n9', domain: 'coding', type: 'implication', correct: i < 1, parsed: i > 1, options: 4, correct_by: { with_fallback: i < 1, parsed_only: false }, letter_mass: null, truncated: i === 2 })),
  ]
  const s = summarize(rows, { total: 12, primary: 'generate', settings })
  t.match(s, { partial: true, questions: 10, total: 12, unparsed: 2, fallback_correct: 1, truncated: 1 })
  t.equal(s.overall.letter_mass, null, 'generate has no letter mass')
  t.equal(s.overall.correct, 5)
  t.equal(s.overall.accuracy.value, 0.5)
  t.equal(s.overall.chance, 0.25)
  t.same(Object.keys(s.by_domain), ['coding', 'mathematics'])
  t.equal(s.by_domain.mathematics!.accuracy.value, 4 / 6)
  t.equal(s.by_type.implication!.n, 4)
  t.equal(s.measures.parsed_only!.value, 0.4)
  t.equal(s.measures.with_fallback!.value, 0.5)
  t.equal(summarize(rows, { total: 10, primary: 'generate', settings: { ...settings, resamples: 0 } }).overall.accuracy.ci_low, null, 'no resamples, no interval')
})

/** A run on 100 questions about 20 news items (5 each: 2 recall, 3 implication); the first `correct` are right. */
const run = (id: string, mode: RunOutcomes['mode'], correct: number, extra: Partial<RunOutcomes> = {}): RunOutcomes => ({
  id, mode, model: 'm', scoring: 'loglik', primary: 'option_norm', template: 'v1', set_id: 'ns_1', set_kind: 'news', adapter_id: mode.startsWith('ft') ? 'ad_1' : null,
  outcomes: new Map(Array.from({ length: 100 }, (_, i) => [`q${String(i).padStart(3, '0')}`, { correct: i < correct, domain: Math.floor(i / 5) % 2 ? 'coding' : 'mathematics', type: i % 5 < 2 ? 'recall' : 'implication', cluster: `item${Math.floor(i / 5)}` }])),
  ...extra,
})

t.test('comparisons: runs are paired on shared questions and matched by model, set and scoring', async (t) => {
  const { comparisons, notes } = compareRuns([run('b', 'base', 30), run('i', 'icl', 70), run('f', 'ft', 40), run('fi', 'ft_icl', 60), run('x', 'icl', 90, { model: 'other' })], settings)
  const by = Object.fromEntries(comparisons.map((c) => [c.kind, c]))
  t.same(Object.keys(by).sort(), ['ft_icl_gap', 'gap_closed', 'icl_gain', 'overexposure'])
  t.equal(by.ft_icl_gap!.estimate.value, 0.7 - 0.4)
  t.same(by.ft_icl_gap!.runs, { icl: 'i', ft: 'f' }, 'the ICL run of the same model is used, not the other model’s')
  t.same(by.ft_icl_gap!.means, { icl: 0.7, ft: 0.4 }, 'each run’s accuracy on the shared questions')
  t.match(by.ft_icl_gap!, { n: 100, items: 20 }, '100 questions on 20 news items (the clusters)')
  t.ok(Math.abs(by.icl_gain!.estimate.value! - 0.4) < 1e-12, 'ICL gain 0.7 − 0.3')
  t.ok(by.icl_gain!.estimate.ci_low! > 0, 'and its interval lies above 0')
  t.ok(Math.abs(by.overexposure!.estimate.value! - -0.1) < 1e-12)
  t.same(Object.keys(by.ft_icl_gap!.by_domain), ['coding', 'mathematics'])
  t.same(Object.keys(by.ft_icl_gap!.by_type), ['implication', 'recall'], 'per question type too')
  t.equal(by.ft_icl_gap!.by_type.recall!.n + by.ft_icl_gap!.by_type.implication!.n, 100)
  t.same(notes, ['ICL gain for x: no base run of other on the same set with the same scoring (loglik, option_norm) in this report'])

  const control = compareRuns([run('cb', 'base', 80, { set_kind: 'control', set_id: 'ns_c' }), run('cf', 'ft', 70, { set_kind: 'control', set_id: 'ns_c' })], settings)
  t.equal(control.comparisons[0]!.kind, 'forgetting')
  t.ok(Math.abs(control.comparisons[0]!.estimate.value! - -0.1) < 1e-12)

  const lonely = compareRuns([run('f', 'ft', 40), run('g', 'icl', 50, { scoring: 'generate', primary: 'generate' })], settings)
  t.equal(lonely.comparisons.length, 0, 'a generate ICL run is not compared with a loglik FT run')
  t.match(lonely.notes.find((n) => n.startsWith('FT-ICL')), /FT-ICL gap for f: no icl run/)
})

t.test('gap closed is shown only when the ICL gain’s interval lies above 0', async (t) => {
  const closed = (base: number, icl: number, ft: number) => compareRuns([run('b', 'base', base), run('i', 'icl', icl), run('f', 'ft', ft)], settings).comparisons.find((c) => c.kind === 'gap_closed')!

  const above = closed(30, 70, 40)
  t.ok(Math.abs(above.estimate.value! - 0.25) < 1e-12, 'ICL well above base: (0.4 − 0.3) / (0.7 − 0.3)')
  t.ok(above.estimate.ci_low! <= 0.25 && 0.25 <= above.estimate.ci_high!)
  t.equal(above.undefined_reason, null)
  t.ok(above.icl_gain!.ci_low! > 0, 'its guard: the ICL gain on the same resamples')
  t.equal(above.undefined_share, 0, 'no resample had ICL ≤ base')

  // the audit's case: base .33, ICL .27, FT .20 printed "2.00 [1, 5]" before
  const below = closed(33, 27, 20)
  t.same(below.estimate, { value: null, ci_low: null, ci_high: null }, 'ICL below base: undefined, not 2.00')
  t.match(below.undefined_reason, /^undefined: ICL does not beat base on these questions \(ICL gain -6\.0 pt, 95% CI \[.+\]; base 33\.0%, ICL 27\.0%, FT 20\.0%\)$/)
  t.ok(below.undefined_share > 0.9, `undefined in ${(below.undefined_share * 100).toFixed(0)}% of resamples`)
  t.ok(below.icl_gain!.value! < 0)

  const equal = closed(30, 30, 40)
  t.equal(equal.estimate.value, null, 'ICL equal to base: undefined')
  t.equal(equal.undefined_share, 1)

  // ICL a little above base, but only on one news item: the interval reaches 0, so no ratio
  const unsure = closed(30, 33, 31)
  t.ok(unsure.icl_gain!.value! > 0 && unsure.icl_gain!.ci_low! <= 0, `ICL gain +3 pt, interval [${unsure.icl_gain!.ci_low}, ${unsure.icl_gain!.ci_high}]`)
  t.equal(unsure.estimate.value, null)
  t.ok(unsure.undefined_share > 0 && unsure.undefined_share < 1, 'the undefined share is reported')
  t.match(unsure.undefined_reason, /ICL gain \+3\.0 pt/)

  // per group: each domain and type has its own guard
  for (const [k, g] of [...Object.entries(above.by_domain), ...Object.entries(above.by_type)]) {
    t.equal(g.undefined_reason === null, g.icl_gain!.ci_low! > 0, `${k}: shown exactly when its ICL gain interval lies above 0`)
    if (g.undefined_reason === null) t.ok(Math.abs(g.estimate.value! - (g.means.ft! - g.means.base!) / (g.means.icl! - g.means.base!)) < 1e-12, `${k}: the ratio of its own means`)
  }
})
