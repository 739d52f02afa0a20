import type { Kysely } from 'kysely'

/**
 * Retries that wait: `not_before` holds a requeued job back for its backoff (with jitter), and
 * `unavailable_since` marks when the job's dependency (the worker, the database) stopped answering,
 * so such waits count no attempt until a deadline passes. Owners unchanged: each job table's service.
 */
const JOB_TABLES = ['generation_runs', 'training_jobs', 'eval_runs', 'experiments']

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of JOB_TABLES) {
    await db.schema.alterTable(table).addColumn('not_before', 'timestamptz').addColumn('unavailable_since', 'timestamptz').execute()
  }
}

