import path from 'node:path'
import { createDb, migrateToLatest, startEmbeddedPostgres, type EmbeddedDatabase } from '@sys2ft/db'
import { seedBuiltinSets } from '../../services/generation/src/domain/news-sets.ts'

export interface ResolvedDatabase {
  url: string
  embedded: EmbeddedDatabase | null
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL with its data under SYS2FT_DATA_DIR/pg. */
export async function resolveDatabase(log: (line: string) => void): Promise<ResolvedDatabase> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, embedded: null }
  const dataDir = path.resolve(process.env.SYS2FT_DATA_DIR ?? '.data', 'pg')
  const port = Number(process.env.SYS2FT_EMBEDDED_PG_PORT ?? 54329)
  log(`starting embedded PostgreSQL (data in ${dataDir}, port ${port})`)
  const embedded = await startEmbeddedPostgres({ dataDir, port })
  return { url: embedded.url, embedded }
}

/** Migrates (under the migrator's advisory lock) and seeds the shipped news sets. */
export async function migrateAndSeed(url: string): Promise<{ applied: string[]; seeded: string[] }> {
  const db = createDb({ url, poolMax: 2 })
  try {
    const applied = await migrateToLatest(db)
    const { created } = await seedBuiltinSets(db)
    return { applied, seeded: created }
  } finally {
    await db.destroy()
  }
}
