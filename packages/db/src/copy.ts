import { Kysely, PostgresDialect } from 'kysely'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { Database } from './schema.ts'

const pools = new WeakMap<Kysely<Database>, pg.Pool>()

/** Remembers the pool behind a Kysely instance (createDb registers it) for bulk COPY. */
export function registerPool(db: Kysely<Database>, pool: pg.Pool): void {
  pools.set(db, pool)
}

// COPY's text format: backslash, tab, newline and carriage return escaped; NULL as \N.
// (Hand-written: pg-copy-streams moves bytes, it does not encode rows.)
function encodeValue(v: unknown): string {
  if (v === null || v === undefined) return '\\N'
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v)
  return s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
}

/** Streams rows into `table` with COPY FROM STDIN on the given connection. */
export async function copyRows(client: pg.PoolClient, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${table} (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`))
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    const CHUNK = 1000
    let i = 0
    const write = () => {
      while (i < rows.length) {
        const part = rows.slice(i, i + CHUNK).map((r) => r.map(encodeValue).join('\t')).join('\n') + '\n'
        i += CHUNK
        if (!stream.write(part)) return void stream.once('drain', write)
      }
      stream.end()
    }
    write()
  })
}

/**
 * Runs `fn` in one transaction on one pooled connection, with both a typed Kysely bound to that
 * connection and the raw client (for COPY). Commits when `fn` resolves, rolls back when it throws.
 */
export async function withBulkTransaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>, client: pg.PoolClient) => Promise<T>): Promise<T> {
  const pool = pools.get(db)
  if (!pool) throw new Error('withBulkTransaction needs a database made by createDb')
  const client = await pool.connect()
  // a Kysely that always hands out this one connection, so typed queries share the transaction
  const single = new Kysely<Database>({ dialect: new PostgresDialect({ pool: { connect: async () => ({ query: client.query.bind(client), release: () => {} }), end: async () => {} } as unknown as pg.Pool }) })
  try {
    await client.query('BEGIN')
    const out = await fn(single, client)
    await client.query('COMMIT')
    return out
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}
