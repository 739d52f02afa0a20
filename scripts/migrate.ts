// `pnpm migrate`: apply pending migrations and seed the shipped news sets, then exit.
import { migrateAndSeed, resolveDatabase } from './lib/database.ts'

const db = await resolveDatabase((l) => console.log(l))
try {
  const { applied, seeded } = await migrateAndSeed(db.url)
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is current')
  if (seeded.length) console.log(`seeded: ${seeded.join(', ')}`)
} finally {
  await db.embedded?.stop()
}
