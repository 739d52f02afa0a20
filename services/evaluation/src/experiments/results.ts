import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { buildReport } from '../domain/report.ts'
import type { ComparisonKindT, ComparisonT } from '../schemas/reports.ts'
import type { ExperimentResultsT, ResultRowT } from '../schemas/results.ts'
import type { GroupStatsT } from '../schemas/summary.ts'
import type { CellRow } from './experiments.ts'

const NO_ACCURACY = { value: null, ci_low: null, ci_high: null, n: 0 }
const accuracy = (g: GroupStatsT) => ({ ...g.accuracy, n: g.n })

/**
 * The experiment's table: one row per evaluation cell (base, ICL, each adapter's FT / FT+ICL, the
 * control set), its accuracy overall, per type and per domain with 95% intervals, and the
 * comparisons of the evaluation report that concern it (ICL gain, FT-ICL gap, gap closed with its
 * guard, overexposure, forgetting), each overall, per type and per domain.
 */
export async function experimentResults(db: Kysely<Database>, cells: CellRow[]): Promise<ExperimentResultsT> {
  const evals = cells.filter((c) => c.kind === 'evaluation' && c.state === 'succeeded' && c.resource_id)
  if (evals.length === 0) return { rows: [], chance: 0.25, notes: ['no evaluation finished'], budget_groups: [], report_runs: [] }
  const ids = evals.map((c) => c.resource_id!)
  const report = await buildReport(db, ids)
  const cmp = (kind: ComparisonKindT, role: string, id: string): ComparisonT | null => report.comparisons.find((x) => x.kind === kind && x.runs[role] === id) ?? null
  const rows = evals.map((cell): ResultRowT => {
    const id = cell.resource_id!
    const run = report.runs.find((r) => r.id === id)!
    const labels = cell.spec.labels
    const s = run.summary
    const group = (g: Record<string, GroupStatsT> | undefined) => Object.fromEntries(Object.entries(g ?? {}).map(([k, v]) => [k, accuracy(v)]))
    const gapClosed = run.mode === 'ft' && run.set_kind === 'news' ? cmp('gap_closed', 'ft', id) : null
    // an FT row carries the ICL gain of the base and ICL runs its gap closed used; the guard itself is
    // `gap_closed.icl_gain`, on the questions the FT run shares with them (under a baseline, fewer)
    const iclGain = run.mode === 'icl' ? cmp('icl_gain', 'icl', id) : gapClosed ? (report.comparisons.find((x) => x.kind === 'icl_gain' && x.runs.icl === gapClosed.runs.icl && x.runs.base === gapClosed.runs.base) ?? null) : null
    const opt = <K extends string, V>(k: K, v: V | undefined) => (v === undefined ? {} : ({ [k]: v } as Record<K, V>))
    return {
      model: run.model,
      method: run.mode,
      set: run.set_kind,
      label: run.label,
      ...opt('protocol', labels.protocol as string | undefined),
      ...opt('samples', labels.samples as number | undefined),
      ...opt('compute_level', labels.compute_level as number | undefined),
      ...opt('seed', labels.seed as number | undefined),
      ...opt('learning_rate', labels.learning_rate as number | undefined),
      ...opt('epochs', labels.epochs as number | undefined),
      ...opt('lora_r', labels.lora_r as number | undefined),
      cell: cell.key,
      eval_run_id: id,
      adapter_id: run.adapter_id,
      training: run.training,
      budget: run.budget,
      accuracy: s ? accuracy(s.overall) : NO_ACCURACY,
      by_type: group(s?.by_type),
      by_domain: group(s?.by_domain),
      icl_gain: iclGain,
      gap_closed: gapClosed,
      ft_icl_gap: run.mode === 'ft' && run.set_kind === 'news' ? cmp('ft_icl_gap', 'ft', id) : null,
      overexposure: run.mode === 'ft_icl' ? cmp('overexposure', 'ft_icl', id) : null,
      forgetting: run.set_kind === 'control' && run.mode === 'ft' ? cmp('forgetting', 'ft', id) : null,
      compute_flops: run.compute_flops,
      generation_flops: run.generation_flops,
    }
  })
  const chance = report.runs[0]?.summary?.overall.chance ?? 0.25
  return { rows, chance, notes: report.notes, budget_groups: report.budget_groups, report_runs: ids }
}
