import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { seedBuiltinSets } from '../../src/domain/news-sets.ts'

/** Seeds the shipped sets and returns the New News set's id. */
export async function newsSetId(db: Kysely<Database>): Promise<string> {
  await seedBuiltinSets(db)
  const set = await db.selectFrom('news_sets').select('id').where('kind', '=', 'news').where('builtin', '=', true).executeTakeFirstOrThrow()
  return set.id
}

export async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await what()
    if (ok(v)) return v
    if (Date.now() > end) throw new Error(`timed out; last value: ${JSON.stringify(v).slice(0, 500)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
