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

/**
 * A TCP proxy in front of the test server that a test can cut (every connection dropped, new ones
 * refused) and restore: a database outage without stopping the server other test files share.
 */
export async function outageProxy(databaseUrl: string): Promise<{ url: string; cut: () => void; restore: () => void; close: () => Promise<void> }> {
  const { createServer, connect } = await import('node:net')
  const target = new URL(databaseUrl)
  const sockets = new Set<import('node:net').Socket>()
  let down = false
  const server = createServer((client) => {
    if (down) return void client.destroy()
    const upstream = connect(Number(target.port || 5432), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const url = new URL(databaseUrl)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as { port: number }).port)
  return {
    url: url.toString(),
    cut: () => {
      down = true
      for (const s of sockets) s.destroy()
    },
    restore: () => { down = false },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()) }),
  }
}
