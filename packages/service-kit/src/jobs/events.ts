import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'

/** The events tables and the column naming their job. */
export const EVENT_TABLES = {
  generation_runs: { table: 'generation_run_events', fk: 'run_id' },
  training_jobs: { table: 'training_job_events', fk: 'job_id' },
  eval_runs: { table: 'eval_run_events', fk: 'run_id' },
  experiments: { table: 'experiment_events', fk: 'experiment_id' },
} as const
export type JobTable = keyof typeof EVENT_TABLES

export interface JobEvent {
  id: string
  type: string
  state: string | null
  message: string
  data: unknown
  created_at: string
}

// Event tables differ only in their foreign-key column: one untyped view serves all of them.
type Loose = Kysely<Record<string, Record<string, unknown>>>

/** Appends an event (a state change with its reason, or a progress note) to a job's events table. */
export async function recordEvent(db: Kysely<Database>, jobTable: JobTable, jobId: string, e: { type: string; state?: string | null; message?: string; data?: unknown }): Promise<void> {
  const { table, fk } = EVENT_TABLES[jobTable]
  await (db as unknown as Loose)
    .insertInto(table)
    .values({ [fk]: jobId, type: e.type, state: e.state ?? null, message: e.message ?? '', data: e.data === undefined ? null : JSON.stringify(e.data) })
    .execute()
}

/** A job's events after `afterId`, oldest first. */
export async function listEvents(db: Kysely<Database>, jobTable: JobTable, jobId: string, afterId = '0', limit = 1000): Promise<JobEvent[]> {
  const { table, fk } = EVENT_TABLES[jobTable]
  const rows = await (db as unknown as Loose)
    .selectFrom(table)
    .select(['id', 'type', 'state', 'message', 'data', 'created_at'])
    .where(fk, '=', jobId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute()
  return rows.map((r) => ({ id: String(r.id), type: String(r.type), state: (r.state as string | null) ?? null, message: String(r.message), data: r.data ?? null, created_at: (r.created_at as Date).toISOString() }))
}
