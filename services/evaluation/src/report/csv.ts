import type { EstimateT, GroupStatsT } from '../schemas/summary.ts'
import type { ComparisonGroupT, ComparisonT, ReportT } from '../schemas/reports.ts'

const COLUMNS = ['section', 'metric', 'group', 'run_id', 'label', 'model', 'adapter_id', 'mode', 'scoring', 'primary', 'set_name', 'n', 'items', 'correct', 'value', 'ci_low', 'ci_high', 'chance', 'undefined_share', 'undefined_reason', 'runs', 'budget_group', 'budget', 'budget_tokens', 'training_flops', 'generation_flops'] as const
type Row = Partial<Record<(typeof COLUMNS)[number], string | number | null>>

/** RFC 4180: quote a field that holds a comma, quote or line break; double the quotes. */
function cell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return ''
  const s = String(v)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

const est = (e: EstimateT) => ({ value: e.value, ci_low: e.ci_low, ci_high: e.ci_high })

/**
 * The report as one CSV table: a row per run × group (overall, each domain, each question type) with
 * accuracy, interval, chance and counts, and for an adapter its training budget and training and
 * generation FLOPs; then a row per comparison overall, per domain and per question type (`group` is
 * `all`, `domain:<d>` or `type:<t>` there), with its undefined share and, for a gap closed withheld
 * because ICL does not beat base, the reason with the numbers; then the comparisons at equal budget
 * (`budget_diff` = acc(b) − acc(a), two adapters of one budget group), with their group.
 */
export function renderCsv(report: ReportT): string {
  const rows: Row[] = []
  for (const run of report.runs) {
    const common = {
      run_id: run.id, label: run.label, model: run.model, adapter_id: run.adapter_id, mode: run.mode, scoring: run.scoring, primary: run.primary, set_name: run.set_name,
      budget_group: run.budget?.group, budget: run.budget?.label, budget_tokens: run.budget?.tokens, training_flops: run.compute_flops, generation_flops: run.generation_flops,
    }
    const s = run.summary
    if (!s) continue
    const groupRow = (metric: string, group: string, g: GroupStatsT) => rows.push({ section: 'accuracy', metric, group, ...common, n: g.n, correct: g.correct, ...est(g.accuracy), chance: g.chance })
    groupRow('accuracy', 'all', s.overall)
    for (const [d, g] of Object.entries(s.by_domain)) groupRow('accuracy_by_domain', d, g)
    for (const [t, g] of Object.entries(s.by_type)) groupRow('accuracy_by_type', t, g)
    for (const [m, e] of Object.entries(s.measures)) rows.push({ section: 'accuracy', metric: `accuracy_${m}`, group: 'all', ...common, n: s.questions, ...est(e) })
  }
  const label = new Map(report.runs.map((r) => [r.id, r.label]))
  const comparisonRows = (c: ComparisonT, labelled: string | null, extra: Row = {}) => {
    const runs = Object.entries(c.runs).map(([role, id]) => `${role}=${id}`).join(' ')
    const comparisonRow = (group: string, g: ComparisonGroupT) =>
      rows.push({ section: 'comparison', metric: c.kind, group, label: labelled, n: g.n, items: g.items, ...est(g.estimate), undefined_share: g.undefined_share, undefined_reason: g.undefined_reason, runs, ...extra })
    comparisonRow('all', c)
    for (const [d, g] of Object.entries(c.by_domain)) comparisonRow(`domain:${d}`, g)
    for (const [t, g] of Object.entries(c.by_type)) comparisonRow(`type:${t}`, g)
  }
  for (const c of report.comparisons) comparisonRows(c, label.get(c.runs.ft ?? c.runs.ft_icl ?? c.runs.icl ?? '') ?? null)
  for (const b of report.budget_groups)
    for (const c of b.comparisons) comparisonRows(c, `${label.get(c.runs.b!)} − ${label.get(c.runs.a!)}`, { model: b.model, mode: b.mode, budget_group: b.key, budget: b.label, budget_tokens: b.tokens })
  return [COLUMNS.join(','), ...rows.map((r) => COLUMNS.map((c) => cell(r[c])).join(','))].join('\r\n') + '\r\n'
}
