import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Database } from './schema.ts'
import { registerPool } from './copy.ts'

export interface DbOptions {
  url: string
  /** Upper bound on connections this process holds. */
  poolMax?: number
  /** Server-side statement timeout; a runaway query fails instead of holding a connection. */
  statementTimeoutMs?: number
  applicationName?: string
  /** Errors of idle connections (the server restarted, the database was dropped); default: logged. */
  onIdleError?: (err: Error) => void
}

// timestamptz as Date, bigint (count(*)) as number: counts here never reach 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v))

export function createPool(opts: DbOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax ?? 10,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    application_name: opts.applicationName ?? 'sys2ft',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  })
  // Without a listener, an idle connection's error (a server restart) would crash the process; the
  // pool replaces the connection on next use, so logging it is enough.
  pool.on('error', opts.onIdleError ?? ((err) => console.error(`sys2ft: idle database connection failed: ${err.message}`)))
  return pool
}

export function createDb(opts: DbOptions): Kysely<Database> {
  const pool = createPool(opts)
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  registerPool(db, pool)
  return db
}
