import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Database } from './schema.ts'

export interface DbOptions {
  url: string
  /** Upper bound on connections this process holds. */
  poolMax?: number
  /** Server-side statement timeout; a runaway query fails instead of holding a connection. */
  statementTimeoutMs?: number
  applicationName?: string
}

// timestamptz as Date, bigint (count(*)) as number: counts here never reach 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v))

export function createPool(opts: DbOptions): pg.Pool {
  return new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax ?? 10,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    application_name: opts.applicationName ?? 'sys2ft',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  })
}

export function createDb(opts: DbOptions): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(opts) }) })
}
