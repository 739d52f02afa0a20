import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Kysely } from 'kysely'
import { createDb } from './pool.ts'
import { migrateToLatest } from './migrator.ts'
import type { Database } from './schema.ts'

/** The server tests use: the local Postgres (trust auth) unless SYS2FT_TEST_DATABASE_URL says otherwise. */
export const testServerUrl = process.env.SYS2FT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export interface TestDatabase {
  name: string
  url: string
  db: Kysely<Database>
  /** Closes the pool and drops the database. */
  drop(): Promise<void>
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: testServerUrl })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/** A fresh, empty database for one test file; migrated unless `migrate: false`. */
export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `sys2ft_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
  // template0: nobody connects to it, so parallel test files never collide on the template
  await admin((c) => c.query(`create database ${name} template template0`))
  const url = new URL(testServerUrl)
  url.pathname = `/${name}`
  // the pool's connections are closed by destroy(); ones still closing when the database is dropped are expected to fail
  const db = createDb({ url: url.toString(), poolMax: 5, onIdleError: () => {} })
  if (opts.migrate !== false) await migrateToLatest(db)
  return {
    name,
    url: url.toString(),
    db,
    async drop() {
      await db.destroy()
      await admin((c) => c.query(`drop database if exists ${name} with (force)`))
    },
  }
}
