import { sql, type CreateTableBuilder } from 'kysely'

/**
 * The columns every asynchronous job table has (conventions: a `state` column claimed with
 * `FOR UPDATE SKIP LOCKED`, a lease expiry, an attempt count, progress and timestamps).
 * Used by shipped migrations: never change it; a later change to job tables is a new migration.
 */
export function withJobColumns<T extends string>(t: CreateTableBuilder<T, never>, states: string[]): CreateTableBuilder<T, never> {
  return t
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('queued').check(sql.raw(`state in (${states.map((s) => `'${s}'`).join(', ')})`)))
    .addColumn('progress_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('progress_total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull().defaultTo(3))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'timestamptz')
    .addColumn('cancel_requested', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('error', 'text')
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
}

/** `<resource>_events`: every state change and progress note of a job, in order, with its reason. */
export function eventsTable<T extends string>(t: CreateTableBuilder<T, never>, parent: string, fk: string): CreateTableBuilder<T, never> {
  return t
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn(fk, 'text', (c) => c.notNull().references(`${parent}.id`).onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('state', 'text')
    .addColumn('message', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('data', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
}

export const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled']
