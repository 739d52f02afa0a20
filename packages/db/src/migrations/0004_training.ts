import { sql, type Kysely } from 'kysely'
import { eventsTable, withJobColumns } from './job-columns.ts'

/** LoRA training dispatch. Owner of all four tables: the training service. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('workers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('api_key', 'text')
    .addColumn('capacity', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('config', 'api')`))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('unknown').check(sql`status in ('up', 'down', 'unknown')`))
    .addColumn('model', 'text')
    .addColumn('engine', 'text')
    .addColumn('info', 'jsonb')
    .addColumn('last_seen_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()

  await withJobColumns(
    db.schema
      .createTable('training_jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('base_model', 'text', (c) => c.notNull())
      .addColumn('data', 'jsonb', (c) => c.notNull())
      .addColumn('settings', 'jsonb', (c) => c.notNull())
      .addColumn('seed', 'integer', (c) => c.notNull())
      .addColumn('example_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('data_sha256', 'text')
      .addColumn('worker_id', 'text', (c) => c.references('workers.id').onDelete('set null'))
      .addColumn('worker_training_id', 'text')
      .addColumn('progress', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('compute', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('adapter_id', 'text'),
    ['queued', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled'],
  ).execute()
  await db.schema.createIndex('training_jobs_claim').on('training_jobs').columns(['state', 'created_at']).execute()
  // one job on one worker at a time: at most one active job per worker, enforced by the database
  await db.schema
    .createIndex('training_jobs_one_per_worker')
    .on('training_jobs')
    .column('worker_id')
    .unique()
    .where(sql.ref('state'), 'in', sql`('dispatched', 'running')`)
    .execute()
  // a job's name becomes its adapter's name: unique among jobs that may still produce an adapter
  await db.schema
    .createIndex('training_jobs_name_live')
    .on('training_jobs')
    .column('name')
    .unique()
    .where(sql.ref('state'), 'not in', sql`('failed', 'cancelled')`)
    .execute()

  await eventsTable(db.schema.createTable('training_job_events'), 'training_jobs', 'job_id').execute()
  await db.schema.createIndex('training_job_events_job').on('training_job_events').columns(['job_id', 'id']).execute()

  await db.schema
    .createTable('adapters')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('job_id', 'text', (c) => c.notNull().references('training_jobs.id').onDelete('restrict'))
    .addColumn('base_model', 'text', (c) => c.notNull())
    .addColumn('worker_id', 'text', (c) => c.references('workers.id').onDelete('set null'))
    .addColumn('location', 'jsonb', (c) => c.notNull())
    .addColumn('data_sha256', 'text', (c) => c.notNull())
    .addColumn('hyperparameters', 'jsonb', (c) => c.notNull())
    .addColumn('final_loss', 'double precision')
    .addColumn('compute', 'jsonb', (c) => c.notNull())
    .addColumn('manifest', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  // one adapter per job: two dispatchers recording the same success cannot register it twice
  await db.schema.createIndex('adapters_job').on('adapters').column('job_id').unique().execute()
}
