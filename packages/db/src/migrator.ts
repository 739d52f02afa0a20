import type { Kysely } from 'kysely'
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely/migration'
import * as m0001 from './migrations/0001_foundation.ts'
import * as m0002 from './migrations/0002_news_sets.ts'
import * as m0003 from './migrations/0003_generation_runs.ts'
import * as m0004 from './migrations/0004_training.ts'
import * as m0005 from './migrations/0005_evaluation.ts'
import * as m0006 from './migrations/0006_experiments.ts'
import * as m0007 from './migrations/0007_job_retries.ts'
import * as m0008 from './migrations/0008_distill_targets.ts'

/** Ordered, forward-only. Append new migrations here; never edit or reorder a shipped one. */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_news_sets': m0002,
  '0003_generation_runs': m0003,
  '0004_training': m0004,
  '0005_evaluation': m0005,
  '0006_experiments': m0006,
  '0007_job_retries': m0007,
  '0008_distill_targets': m0008,
}

const provider: MigrationProvider = { getMigrations: async () => migrations }

function migrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider })
}

/**
 * Brings the schema to the latest migration. Kysely's Postgres adapter holds a Postgres advisory lock
 * (`pg_advisory_lock`) around the run and each migration is its own transaction, so three services
 * starting together apply each migration exactly once (tested in test/migrations.test.ts).
 */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest()
  if (error) throw new Error(`migration failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

export interface MigrationState {
  current: boolean
  applied: string[]
  pending: string[]
}

/** Whether every known migration has been applied (for /readyz). */
export async function migrationState(db: Kysely<any>): Promise<MigrationState> {
  const infos = await migrator(db).getMigrations()
  return {
    applied: infos.filter((m) => m.executedAt).map((m) => m.name),
    pending: infos.filter((m) => !m.executedAt).map((m) => m.name),
    current: infos.every((m) => m.executedAt),
  }
}

export type { MigrationResultSet }
