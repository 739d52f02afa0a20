// Eval runs with `scoring: generate` store model output the way generation does: a NUL character or a
// lone surrogate in an answer (a tiny or confused model writes both) used to fail the run at insert
// ("invalid byte sequence for encoding UTF8: 0x00").
import t from 'tap'
import { sql } from 'kysely'
import { createTestDatabase } from '@sys2ft/db/testing'
import { EVAL_TEMPLATE_VERSION } from '@sys2ft/dataset'
import type { WorkerClient } from '@sys2ft/worker-client'
import { scoreGenerate } from '../src/domain/scoring.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())

const answer = 'Reasoning\u0000 goes here \ud800.\nThe answer is B'
const worker = {
  generate: async () => ({ results: [{ index: 0, completions: [{ text: answer, finish_reason: 'stop', completion_tokens: 9 }] }] }),
  score: async () => { throw new Error('not called: the answer names its option') },
} as unknown as WorkerClient
const question = { id: 'q_1', key: 'k-q1', type: 'recall', question: 'Which?', options: ['a', 'b', 'c', 'd'], answer_index: 1, domain: 'events', news: null }
const opts = { seed: 0, shuffle: false, questions_per_call: 1, template_version: EVAL_TEMPLATE_VERSION, answer_prefix: 'The answer is', reasoning: true, max_tokens: 32, temperature: 0, unparsed: 'fallback' as const }

t.test('an answer with NUL and a lone surrogate is stored, its choice still read', async (t) => {
  await t.rejects(sql`select ${answer}::text as t`.execute(tdb.db), 'Postgres refuses the raw answer')
  const [row] = await scoreGenerate('er_1', [question], opts, { worker, model: 'm', adapter: null, withNews: false, call: { signal: new AbortController().signal } })
  t.equal(row!.raw_answer, 'Reasoning goes here \ufffd.\nThe answer is B')
  t.equal(row!.predicted_index, 1)
  t.equal(row!.correct, true)
  const stored = await sql<{ t: string }>`select ${row!.raw_answer}::text as t`.execute(tdb.db)
  t.equal(stored.rows[0]!.t, row!.raw_answer, 'what is kept is storable')
})
