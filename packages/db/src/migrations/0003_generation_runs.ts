import { sql, type Kysely } from 'kysely'
import { RUN_STATES, eventsTable, withJobColumns } from './job-columns.ts'

/**
 * Sys2-FT self-play data generation. Owner of all three tables: the generation service.
 * A sample is keyed by run × news item × index, so a resumed run never writes one twice.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withJobColumns(
    db.schema
      .createTable('generation_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      // a set cannot be deleted while a run uses it
      .addColumn('set_id', 'text', (c) => c.notNull().references('news_sets.id').onDelete('restrict'))
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('options', 'jsonb', (c) => c.notNull())
      .addColumn('filter', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('provenance', 'jsonb', (c) => c.notNull())
      .addColumn('samples_requested', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('samples_accepted', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('samples_rejected', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('rejected_by_reason', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('prompt_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('completion_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('worker_calls', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('generation_s', 'double precision', (c) => c.notNull().defaultTo(0)),
    RUN_STATES,
  ).execute()
  await db.schema.createIndex('generation_runs_claim').on('generation_runs').columns(['state', 'created_at']).execute()
  await db.schema.createIndex('generation_runs_set').on('generation_runs').column('set_id').execute()

  await eventsTable(db.schema.createTable('generation_run_events'), 'generation_runs', 'run_id').execute()
  await db.schema.createIndex('generation_run_events_run').on('generation_run_events').columns(['run_id', 'id']).execute()

  await db.schema
    .createTable('generation_samples')
    .addColumn('run_id', 'text', (c) => c.notNull().references('generation_runs.id').onDelete('cascade'))
    .addColumn('item_id', 'text', (c) => c.notNull().references('news_items.id').onDelete('cascade'))
    .addColumn('sample_index', 'integer', (c) => c.notNull())
    .addColumn('accepted', 'boolean', (c) => c.notNull())
    .addColumn('reject_reason', 'text')
    .addColumn('messages', 'jsonb')
    .addColumn('raw', 'jsonb', (c) => c.notNull())
    .addColumn('prompt_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('completion_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('generation_samples_pk', ['run_id', 'item_id', 'sample_index'])
    .execute()
  await db.schema.createIndex('generation_samples_accepted').on('generation_samples').columns(['run_id', 'accepted']).execute()
}
