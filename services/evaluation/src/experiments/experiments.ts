import type { Kysely, Selectable } from 'kysely'
import type { Database, ExperimentCellsTable, ExperimentsTable } from '@sys2ft/db'
import { invalid, isId, newId, notFound, recordEvent, requestCancel, resumeJob } from '@sys2ft/service-kit'
import { expandCells } from './cells.ts'
import type { ResolvedSpec } from './spec.ts'

const CELL_INSERT_BATCH = 500

export type ExperimentRow = Selectable<ExperimentsTable>
export type CellRow = Selectable<ExperimentCellsTable>

/** Stores an experiment and its cells (expanded from the spec) in one transaction; the runner picks it up. */
export async function createExperiment(db: Kysely<Database>, spec: ResolvedSpec, limits: { maxCells: number }): Promise<ExperimentRow> {
  const cells = expandCells(spec)
  if (cells.length > limits.maxCells) {
    throw invalid([{ path: '/', message: `expands to ${cells.length} cells; at most ${limits.maxCells} are allowed (SYS2FT_MAX_EXPERIMENT_CELLS)` }], `the experiment's grid expands to ${cells.length} cells, more than the ${limits.maxCells} allowed: fewer models, protocols, sample counts or seeds`)
  }
  const id = newId('exp')
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('experiments')
      .values({ id, name: spec.name, preset: spec.preset, spec: JSON.stringify(spec), progress_total: cells.length, max_attempts: 5 })
      .returningAll()
      .executeTakeFirstOrThrow()
    // Postgres takes at most 65,535 parameters per statement: cells go in batches.
    const rows = cells.map((c, position) => ({ experiment_id: id, key: c.key, position, kind: c.kind, spec: JSON.stringify({ body: c.body, bind: c.bind, labels: c.labels }), depends_on: JSON.stringify(c.depends_on) }))
    for (let i = 0; i < rows.length; i += CELL_INSERT_BATCH) await trx.insertInto('experiment_cells').values(rows.slice(i, i + CELL_INSERT_BATCH)).execute()
    await recordEvent(trx, 'experiments', id, { type: 'state', state: 'queued', message: `created: ${cells.length} cells` })
    return row
  })
}

export async function getExperiment(db: Kysely<Database>, id: string): Promise<ExperimentRow> {
  const row = isId('exp', id) ? await db.selectFrom('experiments').selectAll().where('id', '=', id).executeTakeFirst() : undefined
  if (!row) throw notFound('experiment', id)
  return row
}

export const getCells = (db: Kysely<Database>, id: string) => db.selectFrom('experiment_cells').selectAll().where('experiment_id', '=', id).orderBy('position').execute()

/** The cells of several experiments in one query (a list page), each experiment's in position order. */
export async function cellsOf(db: Kysely<Database>, ids: string[]): Promise<Map<string, CellRow[]>> {
  const out = new Map<string, CellRow[]>(ids.map((id) => [id, []]))
  if (ids.length === 0) return out
  const rows = await db.selectFrom('experiment_cells').selectAll().where('experiment_id', 'in', ids).orderBy('experiment_id').orderBy('position').execute()
  for (const c of rows) out.get(c.experiment_id)!.push(c)
  return out
}

export async function listExperiments(db: Kysely<Database>, q: { limit: number; after?: string | undefined; state?: string | undefined }) {
  let query = db.selectFrom('experiments').selectAll().orderBy('id', 'desc').limit(q.limit + 1)
  if (q.after) query = query.where('id', '<', q.after)
  if (q.state) query = query.where('state', '=', q.state as ExperimentRow['state'])
  return query.execute()
}

/** Cancels the experiment; its runner cancels the cells' running resources as it stops. */
export async function cancelExperiment(db: Kysely<Database>, id: string): Promise<void> {
  await getExperiment(db, id)
  await requestCancel(db, 'experiments', id, { what: 'experiment' })
}

/**
 * Puts a failed or cancelled experiment back in the queue. Finished cells stay finished; failed and
 * cancelled cells go back to pending and get new resources (a new idempotency generation).
 */
export async function resumeExperiment(db: Kysely<Database>, id: string): Promise<void> {
  await getExperiment(db, id)
  await resumeJob(db, 'experiments', id, {
    what: 'experiment',
    also: async (trx) => {
      const retry = await trx.selectFrom('experiment_cells').select(['key', 'progress']).where('experiment_id', '=', id).where('state', 'in', ['failed', 'cancelled']).execute()
      for (const c of retry) {
        const generation = (c.progress.generation ?? 0) + 1
        await trx.updateTable('experiment_cells').set({ state: 'pending', resource_id: null, error: null, finished_at: null, progress: JSON.stringify({ generation }), updated_at: new Date() }).where('experiment_id', '=', id).where('key', '=', c.key).execute()
      }
      return `${retry.length} cells to redo`
    },
  })
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])

/** Seconds since the start, and an estimate of the time left from the pace of finished cells so far. */
function estimate(e: ExperimentRow, cells: CellRow[]) {
  const elapsed = e.started_at ? ((e.finished_at ?? new Date()).getTime() - e.started_at.getTime()) / 1000 : 0
  const done = cells.filter((c) => TERMINAL.has(c.state)).length
  // running cells count by their own progress fraction, so the estimate moves within long cells
  const partial = cells.filter((c) => c.state === 'running').reduce((s, c) => {
    const p = c.progress
    return s + (p.total ? Math.min(1, (p.done ?? 0) / p.total) : 0)
  }, 0)
  const work = done + partial
  const remaining = TERMINAL.has(e.state) ? 0 : work > 0 ? (elapsed / work) * (cells.length - work) : null
  return { elapsed_s: elapsed, remaining_s: remaining }
}

export function experimentOut(e: ExperimentRow, cells: CellRow[]) {
  return {
    id: e.id,
    object: 'experiment' as const,
    name: e.name,
    preset: e.preset,
    state: e.state,
    progress: { done: cells.filter((c) => TERMINAL.has(c.state)).length, total: cells.length, unit: 'cells' },
    estimate: estimate(e, cells),
    cells: cells.map((c) => ({ key: c.key, kind: c.kind, state: c.state, resource_id: c.resource_id, depends_on: c.depends_on, progress: c.progress, error: c.error, started_at: c.started_at?.toISOString() ?? null, finished_at: c.finished_at?.toISOString() ?? null })),
    spec: e.spec,
    results: e.results,
    attempts: e.attempts,
    error: e.error,
    created_at: e.created_at.toISOString(),
    updated_at: e.updated_at.toISOString(),
    started_at: e.started_at?.toISOString() ?? null,
    finished_at: e.finished_at?.toISOString() ?? null,
  }
}
