// The CLI's result table on constructed results: the ICL gain, the FT-ICL gap and gap closed with
// intervals, overall and per question type; gap closed withheld where ICL does not beat base.
import t from 'tap'
import type { ExperimentResults, ResultRow } from '../src/api.ts'
import { formatResults } from '../src/table.ts'

type Cmp = NonNullable<ResultRow['gap_closed']>
const est = (value: number | null, lo: number | null, hi: number | null) => ({ value, ci_low: lo, ci_high: hi })
const group = (value: number | null, lo: number | null, hi: number | null, extra: Partial<Cmp> = {}) => ({ n: 30, items: 6, means: {}, estimate: est(value, lo, hi), undefined_share: 0, icl_gain: null, undefined_reason: null, ...extra })
const cmp = (kind: Cmp['kind'], g: ReturnType<typeof group>, byType: Record<string, ReturnType<typeof group>>): Cmp => ({ kind, runs: {}, ...g, by_domain: {}, by_type: byType })
const acc = (value: number) => ({ value, ci_low: value - 0.1, ci_high: value + 0.1, n: 30 })
const row = (method: ResultRow['method'], label: string, value: number, extra: Partial<ResultRow> = {}): ResultRow => ({
  model: 'm', method, set: 'news', label, cell: `eval:${method}`, eval_run_id: `ev_${method}`, adapter_id: null, training: null,
  accuracy: acc(value), by_type: { recall: acc(value + 0.1), implication: acc(value - 0.05) }, by_domain: {},
  icl_gain: null, ft_icl_gap: null, gap_closed: null, overexposure: null, forgetting: null, compute_flops: null, generation_flops: null, ...extra,
})

const gain = cmp('icl_gain', group(0.2, 0.1, 0.3), { recall: group(0.4, 0.2, 0.6), implication: group(0.05, -0.05, 0.15) })
const undef = 'undefined: ICL does not beat base on these questions (…)'
const closed = cmp('gap_closed', group(0.5, 0.2, 0.9, { undefined_share: 0.01 }), { recall: group(0.6, 0.3, 1), implication: group(null, null, null, { undefined_reason: undef, undefined_share: 0.3 }) })
const results: ExperimentResults = {
  chance: 0.25, notes: [], report_runs: [],
  rows: [
    row('base', 'base', 0.3),
    row('icl', 'ICL', 0.5, { icl_gain: gain }),
    row('ft', 'FT · self_qa · 8/news · lr 2e-4 · 2 ep', 0.4, { icl_gain: gain, gap_closed: closed, ft_icl_gap: cmp('ft_icl_gap', group(0.1, 0, 0.2), {}), compute_flops: 1.5e15, generation_flops: 2.5e14 }),
  ],
}
const out = formatResults(results)

t.match(out, /m — New News questions \(30 questions on 6 news items; chance 25%\)/)
t.match(out, /method +n +accuracy \[95% CI\] +implication +recall +train FLOPs +gen FLOPs/, 'question types from the rows, sorted')
t.match(out, /1\.50e\+15 +2\.50e\+14/, 'training and generation compute side by side')
t.match(out, /FT · self_qa · 8\/news · lr 2e-4 · 2 ep +30 +40\.0% \[30, 50\] +35\.0% \[25, 45\] +50\.0% \[40, 60\] +1\.50e\+15/)
t.match(out, /ICL gain = ICL − base +\+20\.0 pt \[\+10, \+30\] +\+5\.0 pt \[-5, \+15\] +\+40\.0 pt \[\+20, \+60\]/)
t.match(out, /gap closed · FT · self_qa · 8\/news · lr 2e-4 · 2 ep +0\.50 \[0\.20, 0\.90\] \(1% undef\.\) +undefined \(ICL ≤ base\) +0\.60 \[0\.30, 1\.00\]/, 'shown where the guard holds, withheld where not')
t.match(out, /FT-ICL gap · FT · self_qa · 8\/news · lr 2e-4 · 2 ep +\+10\.0 pt \[\+0, \+20\] +— +—/)
t.notMatch(out, /gap closed undefined/, 'no footnote when the overall gap closed is defined')

t.test('a baseline: base and ICL on more questions than the adapter; the guard shown on the trained news', async (t) => {
  const wide = (value: number) => ({ ...acc(value), n: 122 })
  const wideGain = cmp('icl_gain', group(0.2, 0.12, 0.28, { n: 122, items: 100 }), {})
  const narrowClosed = cmp('gap_closed', group(null, null, null, { undefined_reason: undef, icl_gain: est(0.03, -0.1, 0.17) }), { recall: group(null, null, null, { undefined_reason: undef, icl_gain: est(0.2, -0.2, 0.5) }) })
  const out = formatResults({
    ...results,
    rows: [row('base', 'base', 0.3, { accuracy: wide(0.3) }), row('icl', 'ICL', 0.5, { accuracy: wide(0.5), icl_gain: wideGain }), row('ft', 'FT', 0.4, { icl_gain: wideGain, gap_closed: narrowClosed })],
  })
  t.match(out, /\(base and ICL: 122 questions on 100 news items; each adapter: the questions of its trained news; chance 25%\)/)
  t.match(out, /base \(no news\) +122 +30\.0%/)
  t.match(out, /^FT +30 +40\.0%/m, 'the adapter’s own n')
  t.match(out, /ICL gain = ICL − base \(n = 122\) +\+20\.0 pt \[\+12, \+28\]/)
  t.match(out, /ICL gain on the trained news \(n = 30\) +\+3\.0 pt \[-10, \+17\] +— +\+20\.0 pt \[-20, \+50\]/, 'the guard gap closed used, per type too')
  t.match(out, /gap closed · FT +undefined \(ICL ≤ base\)/)
})

t.test('matched compute: a budget column, a line where FT rows mix budgets, the comparison at equal budget', async (t) => {
  const budget = (group: string, label: string, tokens: number) => ({ group, label, basis: 'token_budget' as const, tokens })
  const at24 = budget('b1', '24k tok (12k tok/ep × 2 ep)', 24_000)
  const diff = { ...cmp('budget_diff', group(0.25, 0.05, 0.45), { recall: group(0.3, 0, 0.6) }), runs: { a: 'ev_a', b: 'ev_b' } }
  const ft = (id: string, label: string, b: ReturnType<typeof budget> | null) => ({ ...row('ft', label, 0.4, { compute_flops: 1e13, generation_flops: 2e12, budget: b }), eval_run_id: id, cell: `eval:ft:${id}` })
  const out = formatResults({
    ...results,
    rows: [row('base', 'base', 0.3), row('icl', 'ICL', 0.5), ft('ev_a', 'FT · self_qa', at24), ft('ev_b', 'FT · entigraph', at24), ft('ev_c', 'FT · active_reading', budget('b2', '48k tok', 48_000))],
    budget_groups: [
      { key: 'b1', label: at24.label, basis: 'token_budget', tokens: 24_000, flops: { min: 1e13, max: 1e13 }, model: 'm', mode: 'ft', set_id: 'ns', runs: ['ev_a', 'ev_b'], comparisons: [diff] },
      { key: 'b2', label: '48k tok', basis: 'token_budget', tokens: 48_000, flops: { min: 1e13, max: 1e13 }, model: 'm', mode: 'ft', set_id: 'ns', runs: ['ev_c'], comparisons: [] },
    ],
  })
  t.match(out, /method +n +accuracy \[95% CI\] +implication +recall +train FLOPs +gen FLOPs +budget/)
  t.match(out, /FT · self_qa +30 +40\.0% \[30, 50\] .* +1\.00e\+13 +2\.00e\+12 +24k tok \(12k tok\/ep × 2 ep\)/)
  t.match(out, /FT · active_reading .* 48k tok/)
  t.match(out, /FT rows trained at 2 different budgets \(24k tok \(12k tok\/ep × 2 ep\); 48k tok\): compare them at equal compute only within one budget/)
  t.match(out, /at equal budget: b − a \[95% CI\] +all +implication +recall/)
  t.match(out, /24k tok \(12k tok\/ep × 2 ep\) · FT · entigraph − FT · self_qa +\+25\.0 pt \[\+5, \+45\] +— +\+30\.0 pt \[\+0, \+60\]/)
  // results stored before budgets were grouped (no budget fields): the table as before
  const old = formatResults(results)
  t.notMatch(old, /at equal budget|different budgets/)
})
