import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import type { ResultsQueryT } from '../schemas/eval-runs.ts'

/** A page of a run's per-question results, ordered by question id (the cursor), with optional filters. */
export async function listResults(db: Kysely<Database>, runId: string, q: ResultsQueryT) {
  let query = db
    .selectFrom('eval_results as r')
    .innerJoin('questions as q', 'q.id', 'r.question_id')
    .select(['r.question_id', 'q.key', 'q.answer_index', 'r.domain', 'r.type', 'r.option_order', 'r.prompt', 'r.scores', 'r.raw_answer', 'r.predicted_index', 'r.parsed', 'r.correct', 'r.created_at'])
    .where('r.run_id', '=', runId)
    .orderBy('r.question_id')
    .limit(q.limit + 1)
  if (q.after) query = query.where('r.question_id', '>', q.after)
  if (q.domain) query = query.where('r.domain', '=', q.domain)
  if (q.type) query = query.where('r.type', '=', q.type)
  if (q.correct !== undefined) query = query.where('r.correct', '=', q.correct)
  if (q.parsed !== undefined) query = query.where('r.parsed', '=', q.parsed)
  const rows = await query.execute()
  const has_more = rows.length > q.limit
  const page = rows.slice(0, q.limit)
  return {
    data: page.map((r) => ({
      question_id: r.question_id, question_key: r.key, domain: r.domain, type: r.type, option_order: r.option_order, answer_index: r.answer_index,
      predicted_index: r.predicted_index, correct: r.correct, parsed: r.parsed, raw_answer: r.raw_answer, prompt: r.prompt, scores: r.scores,
      created_at: r.created_at.toISOString(),
    })),
    has_more,
    next_cursor: has_more ? page[page.length - 1]!.question_id : null,
  }
}
