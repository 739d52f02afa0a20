export * from './schema.ts'
export { createDb, createPool, type DbOptions } from './pool.ts'
export { migrateToLatest, migrationState, migrations, type MigrationState } from './migrator.ts'
export { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded.ts'
