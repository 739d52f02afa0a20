import { sql, type Kysely } from 'kysely'
import { RUN_STATES, eventsTable, withJobColumns } from './job-columns.ts'

/** Evaluation runs and per-question results. Owner of all three tables: the evaluation service. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await withJobColumns(
    db.schema
      .createTable('eval_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('adapter_id', 'text', (c) => c.references('adapters.id').onDelete('restrict'))
      .addColumn('set_id', 'text', (c) => c.notNull().references('news_sets.id').onDelete('restrict'))
      .addColumn('filter', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('mode', 'text', (c) => c.notNull().check(sql`mode in ('base', 'icl', 'ft', 'ft_icl')`))
      .addColumn('scoring', 'text', (c) => c.notNull().check(sql`scoring in ('loglik', 'generate')`))
      .addColumn('options', 'jsonb', (c) => c.notNull())
      .addColumn('provenance', 'jsonb', (c) => c.notNull())
      .addColumn('summary', 'jsonb'),
    RUN_STATES,
  ).execute()
  await db.schema.createIndex('eval_runs_claim').on('eval_runs').columns(['state', 'created_at']).execute()

  await eventsTable(db.schema.createTable('eval_run_events'), 'eval_runs', 'run_id').execute()
  await db.schema.createIndex('eval_run_events_run').on('eval_run_events').columns(['run_id', 'id']).execute()

  await db.schema
    .createTable('eval_results')
    .addColumn('run_id', 'text', (c) => c.notNull().references('eval_runs.id').onDelete('cascade'))
    .addColumn('question_id', 'text', (c) => c.notNull().references('questions.id').onDelete('cascade'))
    .addColumn('domain', 'text')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('option_order', 'jsonb', (c) => c.notNull())
    .addColumn('prompt', 'jsonb', (c) => c.notNull())
    .addColumn('scores', 'jsonb')
    .addColumn('raw_answer', 'text')
    .addColumn('predicted_index', 'integer')
    .addColumn('parsed', 'boolean', (c) => c.notNull())
    .addColumn('correct', 'boolean', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('eval_results_pk', ['run_id', 'question_id'])
    .execute()
}
