// Bootstrap intervals on constructed examples, the paired bootstrap, seeded option shuffles, summaries.
import t from 'tap'
import { bootstrapMean, pairedBootstrap } from '../src/domain/stats.ts'
import { optionOrder } from '../src/domain/random.ts'
import { summarize, type ScoredQuestion } from '../src/domain/summary.ts'
import { compareRuns, type RunOutcomes } from '../src/domain/compare.ts'

const settings = { resamples: 2000, seed: 7, level: 0.95 }
const outcomes = (n: number, correct: number) => Array.from({ length: n }, (_, i) => (i < correct ? 1 : 0))

t.test('the accuracy interval contains the truth and has the binomial width', async (t) => {
  // 300 of 400 right: p = 0.75, standard error sqrt(p(1-p)/n) = 0.02165, a 95% interval ≈ ±1.96 SE
  const e = bootstrapMean(outcomes(400, 300), settings)
  t.equal(e.value, 0.75)
  t.ok(e.ci_low! < 0.75 && 0.75 < e.ci_high!, `[${e.ci_low}, ${e.ci_high}] contains 0.75`)
  const expected = 2 * 1.96 * Math.sqrt((0.75 * 0.25) / 400)
  const width = e.ci_high! - e.ci_low!
  t.ok(Math.abs(width - expected) / expected < 0.1, `width ${width.toFixed(4)} within 10% of ${expected.toFixed(4)}`)
  t.same(bootstrapMean(outcomes(400, 300), settings), e, 'same seed, same interval')
  t.not(bootstrapMean(outcomes(400, 300), { ...settings, seed: 8 }).ci_low, e.ci_low, 'another seed, another resampling')
  t.same(bootstrapMean([], settings), { value: null, ci_low: null, ci_high: null }, 'nothing to estimate from')
  t.same(bootstrapMean(outcomes(10, 10), settings), { value: 1, ci_low: 1, ci_high: 1 }, 'all right: a degenerate interval')
})

t.test('coverage: over many constructed samples of a known accuracy, about 95% of intervals contain it', async (t) => {
  let covered = 0
  const trials = 200
  for (let k = 0; k < trials; k++) {
    // a deterministic pseudo-sample of 200 questions at p = 0.6
    const xs = Array.from({ length: 200 }, (_, i) => (((i * 7919 + k * 104729) % 1000) / 1000 < 0.6 ? 1 : 0))
    const truth = 0.6
    const e = bootstrapMean(xs, { resamples: 500, seed: k, level: 0.95 })
    if (e.ci_low! <= truth && truth <= e.ci_high!) covered++
  }
  t.ok(covered / trials >= 0.88, `coverage ${covered}/${trials}`)
})

t.test('paired bootstrap of a gap: the pairing narrows the interval to the spread of the differences', async (t) => {
  // ICL right on 240 of 400, FT right on 160: FT's right answers are a subset of ICL's (strongly paired)
  const icl = outcomes(400, 240)
  const ft = outcomes(400, 160)
  const gap = pairedBootstrap([icl, ft], ([a, b]) => a! - b!, settings)
  t.ok(Math.abs(gap.value! - 0.2) < 1e-12)
  t.ok(gap.ci_low! < 0.2 && 0.2 < gap.ci_high!)
  // differences d_i are 1 on 80 questions, else 0: SE = sd(d)/sqrt(n) = sqrt(0.2·0.8/400) = 0.02
  const expected = 2 * 1.96 * 0.02
  const width = gap.ci_high! - gap.ci_low!
  t.ok(Math.abs(width - expected) / expected < 0.12, `paired width ${width.toFixed(4)} ≈ ${expected.toFixed(4)}`)
  // unpaired, the two errors would add: sqrt(.6·.4/400 + .4·.6/400) = 0.0346, a far wider interval
  t.ok(width < 2 * 1.96 * 0.0346 * 0.8, 'narrower than an unpaired interval')

  const ratio = pairedBootstrap([outcomes(100, 30), outcomes(100, 30), outcomes(100, 40)], ([b, i, f]) => (i! - b! === 0 ? null : (f! - b!) / (i! - b!)), settings)
  t.equal(ratio.value, null, 'gap closed is undefined when ICL equals base')
  t.equal(ratio.undefined_share, 1)
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
    ...Array.from({ length: 6 }, (_, i) => ({ question_id: `a${i}`, domain: 'mathematics', type: 'recall', correct: i < 4, parsed: true, options: 4, correct_by: { with_fallback: i < 4, parsed_only: i < 4 }, letter_mass: null, truncated: false })),
    ...Array.from({ length: 4 }, (_, i) => ({ question_id: `b${i}`, domain: 'coding', type: 'implication', correct: i < 1, parsed: i > 1, options: 4, correct_by: { with_fallback: i < 1, parsed_only: false }, letter_mass: null, truncated: i === 2 })),
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

t.test('comparisons: runs are paired on shared questions and matched by model, set and scoring', async (t) => {
  const run = (id: string, mode: RunOutcomes['mode'], correct: number, extra: Partial<RunOutcomes> = {}): RunOutcomes => ({
    id, mode, model: 'm', scoring: 'loglik', primary: 'option_norm', template: 'v1', set_id: 'ns_1', set_kind: 'news', adapter_id: mode.startsWith('ft') ? 'ad_1' : null,
    outcomes: new Map(Array.from({ length: 100 }, (_, i) => [`q${String(i).padStart(3, '0')}`, { correct: i < correct, domain: i % 2 ? 'coding' : 'mathematics' }])),
    ...extra,
  })
  const { comparisons, notes } = compareRuns([run('b', 'base', 30), run('i', 'icl', 70), run('f', 'ft', 40), run('fi', 'ft_icl', 60), run('x', 'icl', 90, { model: 'other' })], settings)
  const by = Object.fromEntries(comparisons.map((c) => [c.kind, c]))
  t.same(Object.keys(by).sort(), ['ft_icl_gap', 'gap_closed', 'overexposure'])
  t.equal(by.ft_icl_gap!.estimate.value, 0.7 - 0.4)
  t.same(by.ft_icl_gap!.runs, { icl: 'i', ft: 'f' }, 'the ICL run of the same model is used, not the other model’s')
  t.ok(Math.abs(by.gap_closed!.estimate.value! - 0.25) < 1e-12, '(0.4 − 0.3) / (0.7 − 0.3)')
  t.ok(Math.abs(by.overexposure!.estimate.value! - -0.1) < 1e-12)
  t.same(Object.keys(by.ft_icl_gap!.by_domain), ['coding', 'mathematics'])
  t.same(notes, [])

  const control = compareRuns([run('cb', 'base', 80, { set_kind: 'control', set_id: 'ns_c' }), run('cf', 'ft', 70, { set_kind: 'control', set_id: 'ns_c' })], settings)
  t.equal(control.comparisons[0]!.kind, 'forgetting')
  t.ok(Math.abs(control.comparisons[0]!.estimate.value! - -0.1) < 1e-12)

  const lonely = compareRuns([run('f', 'ft', 40), run('g', 'icl', 50, { scoring: 'generate', primary: 'generate' })], settings)
  t.equal(lonely.comparisons.length, 0, 'a generate ICL run is not compared with a loglik FT run')
  t.match(lonely.notes[0], /FT-ICL gap for f: no icl run/)
})
