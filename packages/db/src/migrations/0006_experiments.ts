import { sql, type Kysely } from 'kysely'
import { RUN_STATES, eventsTable, withJobColumns } from './job-columns.ts'

/**
 * End-to-end experiments: a spec expanded into cells (generation runs, training jobs, evaluation
 * runs). Owner of all three tables: the evaluation service, which coordinates experiments and calls
 * the generation and training services over HTTP.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withJobColumns(
    db.schema
      .createTable('experiments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('preset', 'text')
      .addColumn('spec', 'jsonb', (c) => c.notNull())
      .addColumn('results', 'jsonb'),
    RUN_STATES,
  ).execute()
  await db.schema.createIndex('experiments_claim').on('experiments').columns(['state', 'created_at']).execute()

  await eventsTable(db.schema.createTable('experiment_events'), 'experiments', 'experiment_id').execute()
  await db.schema.createIndex('experiment_events_experiment').on('experiment_events').columns(['experiment_id', 'id']).execute()

  await db.schema
    .createTable('experiment_cells')
    .addColumn('experiment_id', 'text', (c) => c.notNull().references('experiments.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('generation', 'training', 'evaluation')`))
    .addColumn('spec', 'jsonb', (c) => c.notNull())
    .addColumn('depends_on', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('pending').check(sql`state in ('pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled')`))
    .addColumn('resource_id', 'text')
    .addColumn('progress', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('error', 'text')
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('experiment_cells_pk', ['experiment_id', 'key'])
    .execute()
}
