// Fixtures for the training tests: a news set and generation runs written straight into the tables
// the generation service owns (its own tests cover how they are made; the real chain, generation run
// → training job, is tested end to end elsewhere), the app on a real database, and a poll helper.
import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { newId } from '@sys2ft/service-kit'
import { auth, testConfig } from '@sys2ft/service-kit/testing'
import { buildApp, type TrainingBuildOptions } from '../src/app.ts'

export { auth }

export interface NewsFixture {
  setId: string
  items: { id: string; key: string; domain: string }[]
}

/** A news set of `n` items (domains alternate mathematics / coding), one question each. */
export async function newsSet(db: Kysely<Database>, n: number, name = `set-${Math.random().toString(36).slice(2, 8)}`): Promise<NewsFixture> {
  const setId = newId('ns')
  const items = Array.from({ length: n }, (_, i) => ({ id: newId('ni'), key: `item-${i}`, domain: i % 2 ? 'coding' : 'mathematics' }))
  await db.insertInto('news_sets').values({ id: setId, name, description: '', kind: 'news', version: '1', builtin: false, item_count: n, question_count: n, content_sha256: 'fixture' }).execute()
  await db
    .insertInto('news_items')
    .values(items.map((it, i) => ({ id: it.id, set_id: setId, key: it.key, position: i, domain: it.domain as 'mathematics', title: `Zorblat ${i}`, date: '2026-05-01', text: `Mathematicians defined the zorblat ${i}: a ⊕ b = a·b + ${i}.`, check: null })))
    .execute()
  await db.insertInto('questions').values(items.map((it, i) => ({ id: newId('q'), set_id: setId, item_id: it.id, key: `${it.key}-q1`, position: 0, type: 'recall' as const, subject: null, question: `What is zorblat ${i}?`, options: JSON.stringify(['a', 'b', 'c', 'd']), answer_index: 0, answer_text: 'a', explanation: '', check: null }))).execute()
  return { setId, items }
}

/**
 * A generation run over the set with `perItem` accepted Self-QA samples per item (and one rejected
 * sample per item, which must never be trained on).
 */
export async function generationRun(db: Kysely<Database>, news: NewsFixture, perItem: number, state: 'succeeded' | 'running' | 'failed' = 'succeeded'): Promise<string> {
  const runId = newId('gen')
  await db.insertInto('generation_runs').values({ id: runId, set_id: news.setId, protocol: 'self_qa', options: '{}', provenance: '{}', state, samples_accepted: perItem * news.items.length }).execute()
  const rows = news.items.flatMap((it, i) => [
    ...Array.from({ length: perItem }, (_, k) => ({
      run_id: runId,
      item_id: it.id,
      sample_index: k,
      accepted: true,
      reject_reason: null,
      messages: JSON.stringify([{ role: 'user', content: `Q${k}: what does zorblat ${i} do?` }, { role: 'assistant', content: `Zorblat ${i} multiplies and adds ${i} (${k}).` }]),
      raw: '{}',
    })),
    { run_id: runId, item_id: it.id, sample_index: perItem, accepted: false, reject_reason: 'duplicate', messages: null, raw: '{}' },
  ])
  await db.insertInto('generation_samples').values(rows).execute()
  return runId
}

/** Polls `cond` until it holds (no fixed sleeps); fails with `what` after `ms`. */
export async function until<T>(what: string, cond: () => Promise<T | false | null | undefined>, ms = 60_000, every = 50): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, every))
  }
}

/** The app on a test database with `workerUrl` as the configured `default` worker, background running. */
export function trainingApp(dbUrl: string, db: Kysely<Database>, workerUrl: string, opts: TrainingBuildOptions = {}) {
  const config = testConfig(dbUrl)
  config.urls.worker = workerUrl
  return buildApp(config, { db, logger: false, background: 'now', ...opts, training: { pollMs: 50, leaseMs: 5_000, healthMs: 500, workers: [{ name: 'default', url: workerUrl }], ...opts.training } })
}

/** Fast, small hyperparameters for the tiny model. */
export const tiny = { lora: { r: 4, alpha: 8 }, learning_rate: 5e-3, batch_size: 4 }
