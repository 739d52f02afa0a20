// The shapes of the jsonb columns this service owns (see JsonColumns in @sys2ft/db).
import type { CellProgress, CellSpec } from './experiments/run-experiment.ts'
import type { FilterT, ResolvedOptions } from './schemas/eval-runs.ts'
import type { SummaryT } from './schemas/summary.ts'

declare module '@sys2ft/db' {
  interface JsonColumns {
    'eval_runs.options': ResolvedOptions
    'eval_runs.summary': SummaryT
    'experiment_cells.spec': CellSpec
    'experiment_cells.progress': CellProgress
    'eval_runs.filter': FilterT
  }
}
