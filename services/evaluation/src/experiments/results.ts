import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { buildReport } from '../domain/report.ts'
import type { CellRow } from './experiments.ts'

type Est = { value: number | null; ci_low: number | null; ci_high: number | null; n?: number }

/**
 * The experiment's table: one row per evaluation cell (base, ICL, each adapter's FT / FT+ICL, the
 * control set), its accuracy overall, per type and per domain with 95% intervals, and the
 * comparisons of the evaluation report (gap closed, FT-ICL gap, overexposure, forgetting).
 */
export async function experimentResults(db: Kysely<Database>, cells: CellRow[]) {
  const evals = cells.filter((c) => c.kind === 'evaluation' && c.state === 'succeeded' && c.resource_id)
  if (evals.length === 0) return { rows: [], chance: 0.25, notes: ['no evaluation finished'], report_runs: [] }
  const ids = evals.map((c) => c.resource_id!)
  const report = await buildReport(db, ids)
  const cmp = (kind: string, role: string, id: string): Est | null => {
    const c = report.comparisons.find((x) => x.kind === kind && x.runs[role] === id)
    return c ? { ...c.estimate, n: c.n } : null
  }
  const rows = evals.map((cell) => {
    const id = cell.resource_id!
    const run = report.runs.find((r) => r.id === id)!
    const labels = (cell.spec as { labels: Record<string, unknown> }).labels
    const s = run.summary
    const group = (g: Record<string, { n: number; accuracy: Est }> | undefined) => Object.fromEntries(Object.entries(g ?? {}).map(([k, v]) => [k, { ...v.accuracy, n: v.n }]))
    return {
      model: run.model,
      method: run.mode,
      set: run.set_kind,
      protocol: labels.protocol as string | undefined,
      samples: labels.samples as number | undefined,
      seed: labels.seed as number | undefined,
      learning_rate: labels.learning_rate as number | undefined,
      epochs: labels.epochs as number | undefined,
      lora_r: labels.lora_r as number | undefined,
      cell: cell.key,
      eval_run_id: id,
      adapter_id: run.adapter_id,
      accuracy: s ? { ...s.overall.accuracy, n: s.overall.n } : { value: null, ci_low: null, ci_high: null, n: 0 },
      by_type: group(s?.by_type),
      by_domain: group(s?.by_domain),
      gap_closed: run.mode === 'ft' ? cmp('gap_closed', 'ft', id) : null,
      ft_icl_gap: run.mode === 'ft' ? cmp('ft_icl_gap', 'ft', id) : null,
      overexposure: run.mode === 'ft_icl' ? cmp('overexposure', 'ft_icl', id) : null,
      forgetting: run.set_kind === 'control' && run.mode === 'ft' ? cmp('forgetting', 'ft', id) : null,
      compute_flops: run.compute_flops,
    }
  })
  const chance = report.runs[0]?.summary?.overall.chance ?? 0.25
  return { rows, chance, notes: report.notes, report_runs: ids }
}
