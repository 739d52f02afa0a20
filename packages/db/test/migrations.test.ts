import t from 'tap'
import { sql } from 'kysely'
import { createTestDatabase } from '../src/testing.ts'
import { migrateToLatest, migrationState, migrations } from '../src/migrator.ts'
import { createDb } from '../src/pool.ts'

t.test('migrations apply to an empty database, once, even when three services race', async (t) => {
  const tdb = await createTestDatabase({ migrate: false })
  t.teardown(() => tdb.drop())
  t.same((await migrationState(tdb.db)).applied, [], 'nothing applied on an empty database')

  // Three pools, as three services starting together would have.
  const pools = [createDb({ url: tdb.url }), createDb({ url: tdb.url }), createDb({ url: tdb.url })]
  const applied = await Promise.all(pools.map((db) => migrateToLatest(db)))
  await Promise.all(pools.map((db) => db.destroy()))
  t.same(applied.flat().sort(), Object.keys(migrations).sort(), 'each migration applied exactly once across the racers')

  const state = await migrationState(tdb.db)
  t.ok(state.current, 'schema is current')
  t.same(state.pending, [])

  t.same(await migrateToLatest(tdb.db), [], 'a second run applies nothing (idempotent)')
  const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = 'public' order by 1`.execute(tdb.db)
  t.same(tables.rows.map((r) => r.table_name), [
    'adapters', 'eval_results', 'eval_run_events', 'eval_runs', 'experiment_cells', 'experiment_events', 'experiments', 'generation_run_events', 'generation_runs', 'generation_samples',
    'idempotency_keys', 'kysely_migration', 'kysely_migration_lock', 'news_items', 'news_sets', 'questions',
    'training_job_events', 'training_jobs', 'workers',
  ])
})
