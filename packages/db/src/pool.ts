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
  const onError = opts.onIdleError ?? ((err: Error) => console.error(`sys2ft: database connection failed: ${err.message}`))
  pool.on('error', onError)
  // A connection that breaks while checked out (the server killed mid-query) emits 'error' on its
  // client, which the pool listens to only while the client is idle: without this listener that
  // event is an uncaught exception and the process dies. The query in flight is rejected anyway.
  pool.on('connect', (client) => client.on('error', onError))
  return pool
}

export function createDb(opts: DbOptions): Kysely<Database> {
  const pool = createPool(opts)
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  registerPool(db, pool)
  return db
}

// Errors that mean "the database is not reachable right now" (down, restarting, a connection cut),
// as opposed to a query that is wrong: SQLSTATE classes 08 (connection exception) and 57P (operator
// intervention: shutdown, crash, cannot connect now), socket errors, and node-postgres' own messages.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', '57P01', '57P02', '57P03'])
const UNAVAILABLE_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|the database system is (starting up|shutting down)/i

/** True when `err` says the database could not be reached (worth waiting for), not that a query failed. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true
  if (err instanceof AggregateError && err.errors.some(isDatabaseUnavailable)) return true
  return UNAVAILABLE_MESSAGES.test(err.message)
}
