import type { GroupStatsT } from '../schemas/summary.ts'
import type { BudgetGroupT, ComparisonGroupT, ComparisonT, ReportRunT, ReportT } from '../schemas/reports.ts'
import { chartLibrary } from './chart-library.ts'
import { CHARTS_SCRIPT } from './charts-script.ts'
import { COMPARISONS, accuracyCell, comparisonCell, esc, pct, table } from './format.ts'

export { esc } from './format.ts'

/** JSON inside a <script> element: "<" escaped so no string in the data can close the element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')

type Labels = Map<string, string>
const roleLabel = (labels: Labels, c: ComparisonT) => esc(labels.get(c.runs.ft ?? c.runs.ft_icl ?? c.runs.icl ?? '') ?? '')

/**
 * The adapters compared at equal compute: per budget group, each pair's difference acc(b) − acc(a)
 * with its interval, overall and per question type; the adapters alone at their budget named.
 */
function atBudget(groups: BudgetGroupT[], labels: Labels): string {
  const pairs = groups.flatMap((g) => g.comparisons.map((c) => ({ g, c })))
  const alone = groups.filter((g) => g.runs.length === 1)
  const types = [...new Set(pairs.flatMap(({ c }) => Object.keys(c.by_type)))].sort()
  const rows = pairs.map(({ g, c }) => [esc(g.label), esc(labels.get(c.runs.b!) ?? ''), esc(labels.get(c.runs.a!) ?? ''), esc(c.n), comparisonCell('budget_diff', c), ...types.map((k) => comparisonCell('budget_diff', c.by_type[k]))])
  return (
    (rows.length ? `<h3>At equal training budget</h3>${table(['budget', 'adapter b', 'adapter a', 'questions', 'acc(b) − acc(a) [95% CI]', ...types], rows, 'budget')}` : '') +
    (alone.length ? `<p class="notes">Alone at its budget (no adapter to compare with at equal compute): ${alone.map((g) => `${esc(labels.get(g.runs[0]!) ?? '')} (${esc(g.label)})`).join('; ')}.</p>` : '')
  )
}

/** Where the adapters of one table were trained at different budgets: said before the table is read. */
function mixedBudgets(runs: ReportRunT[]): string {
  const budgets = [...new Set(runs.map((r) => r.budget?.label ?? 'unknown'))]
  if (budgets.length < 2) return ''
  return `<p class="warn">These adapters were trained at ${esc(budgets.length)} different budgets (${esc(budgets.join('; '))}): rows of different budgets are not compared at equal compute. The comparisons at equal budget are below the table.</p>`
}

/**
 * The headline, per model and set: the ICL gain (does the news in context help at all?), then per
 * fine-tuned adapter (grouped by training budget) its accuracy, FT-ICL gap and gap closed, each with
 * its interval, and the adapters compared with each other at equal budget.
 */
function headline(report: ReportT): string {
  const gains = report.comparisons.filter((c) => c.kind === 'icl_gain')
  const fts = report.comparisons.filter((c) => c.kind === 'ft_icl_gap')
  const labels: Labels = new Map(report.runs.map((r) => [r.id, r.label]))
  const blockOf = (g: BudgetGroupT) => `${g.model}\u0001${g.set_id}`
  const shown = new Set<string>()
  const leftover = () => {
    const rest = report.budget_groups.filter((g) => !shown.has(blockOf(g)))
    return rest.length ? `<section class="block"><h3>Adapters at equal training budget</h3>${atBudget(rest, labels)}</section>` : ''
  }
  if (gains.length === 0 && fts.length === 0) return `<p>No comparison: add base, ICL and FT runs of one model on the same questions.</p>${leftover()}`
  const run = new Map(report.runs.map((r) => [r.id, r]))
  const groupIndex = new Map(report.budget_groups.map((g, i) => [g.key, i]))
  const byBudget = (a: ReportRunT, b: ReportRunT) => (groupIndex.get(a.budget?.group ?? '') ?? Infinity) - (groupIndex.get(b.budget?.group ?? '') ?? Infinity)
  const icls = [...new Set([...gains.map((g) => g.runs.icl!), ...fts.map((g) => g.runs.icl!)])]
  return icls
    .map((iclId) => {
      const gain = gains.find((g) => g.runs.icl === iclId)
      const icl = run.get(iclId)!
      const lead = gain
        ? `<p class="lead">ICL gain <strong>${comparisonCell('icl_gain', gain)}</strong>: ICL ${esc(pct(gain.means.icl))} vs base ${esc(pct(gain.means.base))} on ${esc(gain.n)} questions about ${esc(gain.items)} news items.</p>` +
          (gain.estimate.ci_low !== null && gain.estimate.ci_low > 0 ? '' : '<p class="warn">ICL does not beat base on these questions, so the fraction of the gap closed is undefined: fine-tuning cannot be said to close a gap that is not shown to exist.</p>')
        : '<p class="notes">No base run to compare ICL with.</p>'
      const gaps = fts.filter((c) => c.runs.icl === iclId).map((gap) => ({ gap, ft: run.get(gap.runs.ft!)! }))
      // rows of one budget together, in the order of the budget groups
      const ordered = [...gaps].sort((a, b) => byBudget(a.ft, b.ft))
      const rows = ordered.map(({ gap, ft }) => {
        const closed = report.comparisons.find((c) => c.kind === 'gap_closed' && c.runs.ft === ft.id && c.runs.icl === iclId)
        return [esc(ft.label), esc(ft.budget?.label ?? '–'), accuracyCell(ft.summary?.overall), comparisonCell('ft_icl_gap', gap), closed ? comparisonCell('gap_closed', closed, true) : '–']
      })
      const block = `${icl.model}\u0001${icl.set_id}`
      const budgets = shown.has(block) ? '' : atBudget(report.budget_groups.filter((g) => blockOf(g) === block), labels)
      shown.add(block)
      return `<section class="block"><h3>${esc(icl.model)} · ${esc(icl.set_name)}</h3>${lead}${rows.length ? mixedBudgets(ordered.map((x) => x.ft)) + table(['fine-tuned adapter', 'training budget', 'FT accuracy [95% CI]', 'FT-ICL gap [95% CI]', 'gap closed [95% CI]'], rows) : ''}${budgets}</section>`
    })
    .join('\n') + leftover()
}

/** Rows of comparisons (ICL gain, then each adapter's gap and gap closed) × columns of groups (question types or domains). */
function comparisonMatrix(report: ReportT, labels: Labels, pick: (c: ComparisonT) => Record<string, ComparisonGroupT>, withAll: boolean): string {
  const shown = report.comparisons.filter((c) => c.kind !== 'forgetting')
  if (shown.length === 0) return ''
  const keys = [...new Set(shown.flatMap((c) => Object.keys(pick(c))))].sort()
  const head = ['comparison', ...(withAll ? ['all'] : []), ...keys]
  const rows = shown.map((c) => [
    `${esc(COMPARISONS[c.kind].short)}${c.kind === 'icl_gain' ? '' : ` · ${roleLabel(labels, c)}`}`,
    ...(withAll ? [comparisonCell(c.kind, c)] : []),
    ...keys.map((k) => comparisonCell(c.kind, pick(c)[k])),
  ])
  return table(head, rows, 'matrix')
}

/** Rows of runs × columns of groups: accuracy with its interval. */
function accuracyMatrix(runs: ReportRunT[], pick: (r: ReportRunT) => Record<string, GroupStatsT> | undefined, withAll: boolean): string {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(pick(r) ?? {})))].sort()
  const head = ['method', ...(withAll ? ['all'] : []), ...keys]
  return table(head, runs.filter((r) => r.summary).map((r) => [esc(r.label), ...(withAll ? [accuracyCell(r.summary?.overall)] : []), ...keys.map((k) => accuracyCell(pick(r)?.[k]))]), 'matrix')
}

function runsTable(runs: ReportRunT[]): string {
  // the unparsed count means something only for `generate` scoring
  const generate = runs.some((r) => r.scoring === 'generate')
  return table(
    ['method', 'run', 'adapter', 'set', 'scoring', 'state', 'scored', 'accuracy [95% CI]', 'chance', ...(generate ? ['unparsed'] : [])],
    runs.map((r) => [
      esc(r.label), `<code>${esc(r.id)}</code>`, r.adapter_name ? esc(r.adapter_name) : '', esc(r.set_name), esc(`${r.scoring} (${r.primary})`), esc(r.state),
      r.summary ? esc(`${r.summary.questions}/${r.summary.total}`) : '0', accuracyCell(r.summary?.overall), esc(r.summary ? pct(r.summary.overall.chance) : '–'),
      ...(generate ? [r.scoring === 'generate' && r.summary ? esc(String(r.summary.unparsed)) : ''] : []),
    ]),
    'runs',
  )
}

/** Overexposure and forgetting: one row each. */
function otherComparisons(report: ReportT, labels: Labels): string {
  const rows = report.comparisons.filter((c) => c.kind === 'overexposure' || c.kind === 'forgetting')
  if (rows.length === 0) return ''
  return `<h2>Overexposure and forgetting</h2>${table(['comparison', 'run', 'questions', 'value [95% CI]'], rows.map((c) => [esc(COMPARISONS[c.kind].title), roleLabel(labels, c), esc(c.n), comparisonCell(c.kind, c)]))}`
}

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1rem; margin-bottom: .3rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; } th, td { padding: .3rem .5rem; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; overflow-wrap: break-word; }
th { background: #f6f6f6; overflow-wrap: normal; } table.runs code { word-break: break-all; } .ci { color: #777; font-size: .85em; } code { font-size: .8em; color: #555; }
table.matrix td:first-child { width: 28%; } .lead { font-size: 1.05rem; } .warn { color: #8a4b00; background: #fff6e5; padding: .4rem .6rem; border-radius: 4px; }
.undef { color: #8a4b00; font-weight: 600; } .block { margin-bottom: 1.5rem; }
.chart { position: relative; height: 380px; margin: 1rem 0; } .notes { color: #666; font-size: .9em; }`

/**
 * The HTML report, to read in a minute: the headline (ICL gain, then FT-ICL gap and gap closed per
 * adapter) first, then the same per question type and per domain, the charts, and the run details.
 * Self-contained (Chart.js inlined, no network); tables read without scripts; the charts are drawn
 * from the same JSON that `format=json` returns.
 */
export function renderHtml(report: ReportT): string {
  const labels: Labels = new Map(report.runs.map((r) => [r.id, r.label]))
  const news = report.runs.filter((r) => r.set_kind === 'news')
  const hasNews = news.some((r) => r.summary)
  const hasControl = report.runs.some((r) => r.summary && r.set_kind === 'control')
  const computed = report.runs.filter((r) => r.compute_flops !== null && r.summary && r.set_kind === 'news' && (r.mode === 'ft' || r.mode === 'ft_icl'))
  const hasCompute = computed.length > 0
  const withGeneration = computed.filter((r) => r.generation_flops !== null).length
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sys2ft evaluation report</title><style>${STYLE}</style></head>
<body>
<h1>sys2ft evaluation report</h1>
<p class="notes">${esc(report.runs.length)} run(s); generated ${esc(report.generated_at)}. Intervals: ${esc(Math.round(report.bootstrap.level * 100))}% paired cluster bootstrap over news items (the questions of one item are resampled together, the same items for every run compared), ${esc(report.bootstrap.resamples)} resamples, seed ${esc(report.bootstrap.seed)}. Differences in points (pt).</p>
<h2>Headline</h2>
${headline(report)}
<h2>By question type</h2>
${comparisonMatrix(report, labels, (c) => c.by_type, false)}
${hasNews ? accuracyMatrix(news, (r) => r.summary?.by_type, false) : ''}
<h2>By domain</h2>
${comparisonMatrix(report, labels, (c) => c.by_domain, false)}
${hasNews ? accuracyMatrix(news, (r) => r.summary?.by_domain, true) : ''}
${otherComparisons(report, labels)}
${hasControl ? `<h2>Control set by subject</h2>${accuracyMatrix(report.runs.filter((r) => r.set_kind === 'control'), (r) => r.summary?.by_domain, true)}` : ''}
${report.notes.length ? `<ul class="notes">${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Charts</h2>
${hasCompute ? '<div class="chart"><canvas id="chart-compute" aria-label="Accuracy vs training compute"></canvas></div>' : '<p class="notes">No adapter in this report carries its training compute (adapters.compute.flops), so there is no accuracy-vs-compute chart.</p>'}
${withGeneration ? `<div class="chart"><canvas id="chart-compute-total" aria-label="Accuracy vs training + generation compute"></canvas></div>${withGeneration < computed.length ? `<p class="notes">${esc(computed.length - withGeneration)} of ${esc(computed.length)} adapter run(s) are not in the training + generation chart: their data’s generation compute is not known (data not from generation runs of this stack, or a model of unknown size).</p>` : ''}` : hasCompute ? '<p class="notes">No adapter in this report has a known generation compute (generation_flops), so there is no accuracy-vs-training + generation compute chart.</p>' : ''}
${hasNews ? '<div class="chart"><canvas id="chart-domains" aria-label="Accuracy by method and domain"></canvas></div>' : ''}
${hasControl ? '<div class="chart"><canvas id="chart-control" aria-label="Control set accuracy by method and subject"></canvas></div>' : ''}
<h2>Runs</h2>
${runsTable(report.runs)}
<script type="application/json" id="report-data">${scriptJson(report)}</script>
<script>${chartLibrary()}</script>
<script>${CHARTS_SCRIPT}</script>
</body></html>
`
}
