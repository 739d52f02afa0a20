import type { EstimateT, GroupStatsT } from '../schemas/summary.ts'
import type { ComparisonT, ReportRunT, ReportT } from '../schemas/reports.ts'
import { chartLibrary } from './chart-library.ts'
import { CHARTS_SCRIPT } from './charts-script.ts'

/** Every piece of text from the database goes through this (set names, adapter names, labels). */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** JSON inside a <script> element: "<" escaped so no string in the data can close the element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`)
const signed = (x: number | null) => (x === null ? '–' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} pt`)
const interval = (e: EstimateT, f: (x: number | null) => string = pct) => (e.ci_low === null ? '' : ` <span class="ci">[${esc(f(e.ci_low))}, ${esc(f(e.ci_high))}]</span>`)

const COMPARISONS: Record<ComparisonT['kind'], { title: string; format: (x: number | null) => string }> = {
  ft_icl_gap: { title: 'FT-ICL gap = acc(ICL) − acc(FT)', format: signed },
  gap_closed: { title: 'Fraction of the gap closed = (acc(FT) − acc(base)) / (acc(ICL) − acc(base))', format: (x) => (x === null ? '–' : x.toFixed(2)) },
  overexposure: { title: 'Overexposure = acc(FT+ICL) − acc(ICL)', format: signed },
  forgetting: { title: 'Forgetting = acc(FT) − acc(base) on the control set', format: signed },
}

const table = (head: string[], rows: string[][]) =>
  `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`

const accuracyCell = (g: GroupStatsT | undefined) => (g ? `${esc(pct(g.accuracy.value))}${interval(g.accuracy)}` : '–')

function runsTable(runs: ReportRunT[]): string {
  return table(
    ['method', 'run', 'set', 'scoring', 'state', 'questions', 'accuracy [95% CI]', 'chance', 'unparsed'],
    runs.map((r) => [
      esc(r.label), `<code>${esc(r.id)}</code>`, esc(r.set_name), esc(`${r.scoring} (${r.primary})`), esc(r.state),
      r.summary ? esc(`${r.summary.questions}/${r.summary.total}`) : '0', accuracyCell(r.summary?.overall), esc(r.summary ? pct(r.summary.overall.chance) : '–'),
      r.scoring === 'generate' && r.summary ? esc(String(r.summary.unparsed)) : '',
    ]),
  )
}

/** One table per group (a domain, a question type): a row per run. */
function groupTables(runs: ReportRunT[], pick: (r: ReportRunT) => Record<string, GroupStatsT> | undefined, heading: string): string {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(pick(r) ?? {})))].sort()
  return keys
    .map((k) => {
      const rows = runs.filter((r) => pick(r)?.[k]).map((r) => {
        const g = pick(r)![k]!
        return [esc(r.label), esc(String(g.n)), esc(String(g.correct)), accuracyCell(g), esc(pct(g.chance))]
      })
      return `<section class="group"><h3>${esc(heading)}: ${esc(k)}</h3>${table(['method', 'questions', 'correct', 'accuracy [95% CI]', 'chance'], rows)}</section>`
    })
    .join('\n')
}

function comparisonsTable(report: ReportT): string {
  if (report.comparisons.length === 0) return '<p>No comparison: add base, ICL and FT runs of one model on the same questions.</p>'
  const label = new Map(report.runs.map((r) => [r.id, r.label]))
  return table(
    ['comparison', 'runs', 'questions', 'value [95% CI]', 'by domain'],
    report.comparisons.map((c) => {
      const f = COMPARISONS[c.kind].format
      const domains = Object.entries(c.by_domain).map(([d, g]) => `${esc(d)}: ${esc(f(g.value))}`).join('<br>')
      return [esc(COMPARISONS[c.kind].title), Object.entries(c.runs).map(([role, id]) => `${esc(role)}: ${esc(label.get(id) ?? id)}`).join('<br>'), esc(String(c.n)), `${esc(f(c.estimate.value))}${interval(c.estimate, f)}`, domains]
    }),
  )
}

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1rem; margin-bottom: .3rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; } th, td { padding: .3rem .6rem; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f6f6f6; } .ci { color: #777; font-size: .85em; } code { font-size: .8em; color: #555; }
.chart { position: relative; height: 360px; margin: 1rem 0; } .groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(30rem, 1fr)); gap: 0 1.5rem; }
.notes { color: #666; font-size: .9em; }`

/**
 * The HTML report: self-contained (Chart.js inlined, no network), tables first so it reads without
 * scripts, charts drawn from the same JSON that `format=json` returns.
 */
export function renderHtml(report: ReportT): string {
  const hasNews = report.runs.some((r) => r.summary && r.set_kind === 'news')
  const hasControl = report.runs.some((r) => r.summary && r.set_kind === 'control')
  const hasCompute = report.runs.some((r) => r.compute_flops !== null && r.summary && r.set_kind === 'news' && (r.mode === 'ft' || r.mode === 'ft_icl'))
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sys2ft evaluation report</title><style>${STYLE}</style></head>
<body>
<h1>sys2ft evaluation report</h1>
<p>${esc(report.runs.length)} run(s); generated ${esc(report.generated_at)}; intervals: ${esc(Math.round(report.bootstrap.level * 100))}% percentile bootstrap over questions, ${esc(report.bootstrap.resamples)} resamples, seed ${esc(report.bootstrap.seed)}.</p>
<h2>Runs</h2>
${runsTable(report.runs)}
<h2>Comparisons</h2>
${comparisonsTable(report)}
${report.notes.length ? `<ul class="notes">${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Charts</h2>
${hasNews ? '<div class="chart"><canvas id="chart-domains" aria-label="Accuracy by method and domain"></canvas></div>' : ''}
${hasControl ? '<div class="chart"><canvas id="chart-control" aria-label="Control set accuracy by method and subject"></canvas></div>' : ''}
${hasCompute ? '<div class="chart"><canvas id="chart-compute" aria-label="Accuracy vs training compute"></canvas></div>' : '<p class="notes">No adapter in this report carries its training compute (adapters.compute.flops), so there is no accuracy-vs-compute chart.</p>'}
<h2>By domain</h2>
<div class="groups">${groupTables(report.runs, (r) => r.summary?.by_domain, 'Domain')}</div>
<h2>By question type</h2>
<div class="groups">${groupTables(report.runs, (r) => r.summary?.by_type, 'Question type')}</div>
<script type="application/json" id="report-data">${scriptJson(report)}</script>
<script>${chartLibrary()}</script>
<script>${CHARTS_SCRIPT}</script>
</body></html>
`
}
