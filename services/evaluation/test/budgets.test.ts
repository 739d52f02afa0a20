// Matched compute in the report: FT runs grouped by training budget (token budget × epochs, or FLOPs
// within 10%), each group's runs compared with the paired cluster bootstrap, a note where one table
// mixes budgets; the CSV and HTML carry it (the CLI table: packages/cli/test/table.test.ts). Constructed
// runs: no worker, no database.
import t from 'tap'
import { budgetGroups } from '../src/domain/budgets.ts'
import type { RunOutcomes } from '../src/domain/compare.ts'
import { clusterBootstrap, CLUSTERS, DEFAULT_BOOTSTRAP } from '../src/domain/stats.ts'
import { summarize } from '../src/domain/summary.ts'
import { renderCsv } from '../src/report/csv.ts'
import { renderHtml } from '../src/report/html.ts'
import type { ReportRunT, ReportT, TrainingDescriptionT } from '../src/schemas/reports.ts'

// 20 questions on 5 news items, recall and implication alternating
const QUESTIONS = Array.from({ length: 20 }, (_, i) => ({ id: `q${i}`, cluster: `item${Math.floor(i / 4)}`, type: i % 2 ? 'implication' : 'recall' }))
const settings = DEFAULT_BOOTSTRAP

const training = (protocol: string, token_budget: number | null, epochs = 2): TrainingDescriptionT => ({
  protocol, samples_per_news: 8, news_in_context: false, replay: 0, learning_rate: 2e-4, epochs, lora_r: 16, seed: 0, token_budget, generation_tokens: 1000,
})
function run(id: string, mode: ReportRunT['mode'], correct: (i: number) => boolean, extra: Partial<ReportRunT> = {}): { run: ReportRunT; outcomes: RunOutcomes } {
  const scored = QUESTIONS.map((q, i) => ({ question_id: q.id, cluster: q.cluster, domain: 'coding', type: q.type, correct: correct(i), parsed: true, options: 4, correct_by: { option_norm: correct(i) }, letter_mass: 1, truncated: false }))
  const r: ReportRunT = {
    id, label: `${mode} ${id}`, model: 'm', adapter_id: mode.startsWith('ft') ? `ad_${id}` : null, adapter_name: null, mode, scoring: 'loglik', primary: 'option_norm',
    set_id: 'ns_1', set_name: 'news', set_kind: 'news', state: 'succeeded', compute_flops: null, generation_flops: null, training: null, budget: null, series: `${mode} · m`,
    summary: summarize(scored, { total: 20, primary: 'option_norm' }), ...extra,
  }
  const outcomes: RunOutcomes = {
    id, model: 'm', mode, scoring: 'loglik', primary: 'option_norm', template: 'v2', set_id: 'ns_1', set_kind: 'news', adapter_id: r.adapter_id,
    outcomes: new Map(scored.map((s) => [s.question_id, { correct: s.correct, domain: s.domain, type: s.type, cluster: s.cluster }])),
  }
  return { run: r, outcomes }
}

// two protocols at 12k tok/ep × 2 ep, a third at 24k tok/ep × 2 ep
const selfQa = run('a', 'ft', (i) => i % 2 === 0, { label: 'FT · self_qa', training: training('self_qa', 12_000), compute_flops: 1.0e13, generation_flops: 2e12 })
const entigraph = run('b', 'ft', (i) => i % 4 !== 3, { label: 'FT · entigraph', training: training('entigraph', 12_000), compute_flops: 0.98e13, generation_flops: 3e12 })
const activeReading = run('c', 'ft', (i) => i < 12, { label: 'FT · active_reading', training: training('active_reading', 24_000), compute_flops: 2e13, generation_flops: 1e12 })
const base = run('base', 'base', (i) => i < 5, { label: 'base' })
const icl = run('icl', 'icl', (i) => i < 17, { label: 'ICL' })
const all = [base, icl, selfQa, entigraph, activeReading]

t.test('two protocols at one token budget are compared; a third at another budget is its own group, and flagged', async (t) => {
  const { groups, budgets, notes } = budgetGroups(all.map((x) => x.run), all.map((x) => x.outcomes), settings)
  t.equal(groups.length, 2)
  const [same, other] = groups
  t.match(same, { key: 'b1', label: '24k tok (12k tok/ep × 2 ep)', basis: 'token_budget', tokens: 24_000, flops: { min: 0.98e13, max: 1e13 }, model: 'm', mode: 'ft', set_id: 'ns_1', runs: ['a', 'b'] })
  t.match(other, { key: 'b2', label: '48k tok (24k tok/ep × 2 ep)', tokens: 48_000, runs: ['c'], comparisons: [] })
  t.equal(same!.comparisons.length, 1)
  const c = same!.comparisons[0]!
  t.same(c.runs, { a: 'a', b: 'b' })
  t.equal(c.kind, 'budget_diff')
  t.equal(c.n, 20)
  t.equal(c.items, 5)
  t.ok(Math.abs(c.estimate.value! - (15 / 20 - 10 / 20)) < 1e-12, 'acc(b) − acc(a) on the shared questions')
  // the same paired cluster bootstrap every comparison uses (same key, same resampled items)
  const column = (x: typeof selfQa) => QUESTIONS.map((q) => (x.outcomes.outcomes.get(q.id)!.correct ? 1 : 0))
  const direct = clusterBootstrap([column(selfQa), column(entigraph)], QUESTIONS.map((q) => q.cluster), { d: ([a, b]) => b! - a! }, settings, 'all').d
  t.same([c.estimate.ci_low, c.estimate.ci_high], [direct.ci_low, direct.ci_high])
  t.same(Object.keys(c.by_type).sort(), ['implication', 'recall'])
  t.same(Object.keys(c.by_domain), ['coding'])
  t.same(budgets.get('a'), { group: 'b1', label: '24k tok (12k tok/ep × 2 ep)', basis: 'token_budget', tokens: 24_000 })
  t.equal(budgets.get('c')?.group, 'b2')
  t.notOk(budgets.has('base') || budgets.has('icl'), 'base and ICL have no training budget')
  t.same(notes, ['FT runs of m on news were trained at 2 different budgets (24k tok (12k tok/ep × 2 ep): 2 runs; 48k tok (24k tok/ep × 2 ep): 1 run): compare them at equal compute only within one budget (budget_groups)'])
})

t.test('without a token budget: training FLOPs within 10% of a group’s smallest share it; modes and runs of unknown budget apart', async (t) => {
  const flops = (id: string, f: number | null, mode: ReportRunT['mode'] = 'ft') => run(id, mode, (i) => i % 3 === 0, { training: training('naive', null), compute_flops: f })
  const runs = [flops('p', 1e12), flops('q', 1.09e12), flops('r', 1.2e12), flops('s', null), flops('u', 1e12, 'ft_icl')]
  const { groups, notes } = budgetGroups(runs.map((x) => x.run), runs.map((x) => x.outcomes), settings)
  t.same(groups.map((g) => [g.key, g.basis, g.label, g.mode, g.runs]), [
    ['b1', 'flops', '1.00e12–1.09e12 FLOPs', 'ft', ['p', 'q']],
    ['b2', 'flops', '≈1.20e12 FLOPs', 'ft', ['r']],
    ['b3', 'flops', '≈1.00e12 FLOPs', 'ft_icl', ['u']],
  ])
  t.equal(groups[0]!.comparisons.length, 1)
  t.match(notes[0], /^FT runs of m on news were trained at 3 different budgets \(1\.00e12–1\.09e12 FLOPs: 2 runs; ≈1\.20e12 FLOPs: 1 run; unknown: 1 run\)/)
  t.equal(notes.length, 1, 'FT+ICL has one budget: no note')
})

const { groups, budgets, notes } = budgetGroups(all.map((x) => x.run), all.map((x) => x.outcomes), settings)
const runs = all.map((x) => ({ ...x.run, budget: budgets.get(x.run.id) ?? null }))
const report: ReportT = { object: 'report', generated_at: '2026-01-01T00:00:00.000Z', bootstrap: { ...settings, resampled: CLUSTERS }, domains: ['coding'], runs, comparisons: [], budget_groups: groups, notes }

t.test('CSV: each adapter row carries its budget and FLOPs; a row per comparison at equal budget', async (t) => {
  const lines = renderCsv(report).trim().split('\r\n')
  const head = lines[0]!.split(',')
  t.same(head.slice(-5), ['budget_group', 'budget', 'budget_tokens', 'training_flops', 'generation_flops'])
  const field = (line: string, name: string) => line.split(',')[head.indexOf(name)]
  const overall = (id: string) => lines.find((l) => l.startsWith(`accuracy,accuracy,all,${id},`))!
  t.same(['budget_group', 'budget', 'budget_tokens', 'training_flops', 'generation_flops'].map((f) => field(overall('a'), f)), ['b1', '24k tok (12k tok/ep × 2 ep)', '24000', '10000000000000', '2000000000000'])
  t.equal(field(overall('c'), 'budget_group'), 'b2')
  t.equal(field(overall('base'), 'budget_group'), '', 'base has none')
  const diffs = lines.filter((l) => l.startsWith('comparison,budget_diff,'))
  t.equal(diffs.length, 1 + 1 + 2, 'overall, one domain, two types')
  t.equal(field(diffs[0]!, 'label'), 'FT · entigraph − FT · self_qa')
  t.equal(field(diffs[0]!, 'runs'), 'a=a b=b')
  t.equal(field(diffs[0]!, 'budget_group'), 'b1')
  t.equal(Number(field(diffs[0]!, 'value')), 0.25)
})

t.test('HTML: the adapters table says each budget and that it mixes budgets; the comparison at equal budget; both compute charts', async (t) => {
  const icl2 = { ...report, comparisons: [] as ReportT['comparisons'] }
  // the headline's FT table comes from the FT-ICL gap comparisons: give each adapter one
  const { compareRuns } = await import('../src/domain/compare.ts')
  icl2.comparisons = compareRuns(all.map((x) => x.outcomes), settings).comparisons
  const html = renderHtml(icl2)
  t.match(html, /<th>training budget<\/th>/)
  t.match(html, /<p class="warn">These adapters were trained at 2 different budgets \(24k tok \(12k tok\/ep × 2 ep\); 48k tok \(24k tok\/ep × 2 ep\)\)/)
  t.match(html, /<h3>At equal training budget<\/h3><table class="budget">.*<td>24k tok \(12k tok\/ep × 2 ep\)<\/td><td>FT · entigraph<\/td><td>FT · self_qa<\/td><td>20<\/td><td>\+25\.0 pt <span class="ci">/s)
  t.match(html, /Alone at its budget \(no adapter to compare with at equal compute\): FT · active_reading \(48k tok \(24k tok\/ep × 2 ep\)\)/)
  t.match(html, /id="chart-compute"/)
  t.match(html, /id="chart-compute-total"/, 'training + generation compute: every adapter here knows its generation compute')
  // the rows of one budget sit together: self_qa and entigraph before active_reading
  const table = html.slice(html.indexOf('<th>fine-tuned adapter</th>'))
  t.ok(table.indexOf('FT · entigraph') < table.indexOf('FT · active_reading') && table.indexOf('FT · self_qa') < table.indexOf('FT · active_reading'))
  const noGen = renderHtml({ ...icl2, runs: icl2.runs.map((r) => ({ ...r, generation_flops: null })) })
  t.notMatch(noGen, /id="chart-compute-total"/)
  t.match(noGen, /no accuracy-vs-training \+ generation compute chart/)
})
