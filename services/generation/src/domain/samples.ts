import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { invalid } from '@sys2ft/service-kit'

export interface SampleQuery {
  limit: number
  after?: string | undefined
  accepted?: boolean | undefined
  reason?: string | undefined
}

const encode = (pos: number, idx: number) => Buffer.from(JSON.stringify([pos, idx])).toString('base64url')
function decode(cursor: string): [number, number] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown
    if (Array.isArray(v) && v.length === 2 && v.every(Number.isInteger)) return v as [number, number]
  } catch {
    // fall through
  }
  throw invalid([{ path: '/querystring/after', message: 'is not a cursor from this list' }])
}

function base(db: Kysely<Database>, runId: string) {
  return db
    .selectFrom('generation_samples as s')
    .innerJoin('news_items as n', 'n.id', 's.item_id')
    .where('s.run_id', '=', runId)
}

/** A page of a run's samples (accepted and/or rejected), in news order. */
export async function listSamples(db: Kysely<Database>, runId: string, q: SampleQuery) {
  let query = base(db, runId)
    .select(['n.key as news_key', 'n.position', 's.sample_index', 's.accepted', 's.reject_reason', 's.messages', 's.raw', 's.prompt_tokens', 's.completion_tokens', 's.created_at'])
    .orderBy('n.position')
    .orderBy('s.sample_index')
    .limit(q.limit + 1)
  if (q.accepted !== undefined) query = query.where('s.accepted', '=', q.accepted)
  if (q.reason) query = query.where('s.reject_reason', '=', q.reason)
  if (q.after) {
    const [pos, idx] = decode(q.after)
    query = query.where((eb) => eb.or([eb('n.position', '>', pos), eb.and([eb('n.position', '=', pos), eb('s.sample_index', '>', idx)])]))
  }
  const rows = await query.execute()
  const has_more = rows.length > q.limit
  const page = rows.slice(0, q.limit)
  const last = page[page.length - 1]
  return {
    data: page.map((r) => ({ news_key: r.news_key, index: r.sample_index, accepted: r.accepted, reject_reason: r.reject_reason, messages: r.messages, raw: r.raw, prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens, created_at: r.created_at.toISOString() })),
    has_more,
    next_cursor: has_more && last ? encode(last.position, last.sample_index) : null,
  }
}

/**
 * The accepted training set as JSONL, one `{"messages": [...]}` per line (with `"distill"`, the
 * teacher's targets, where a context-distillation sample has them): exactly the examples the
 * training service sends to the worker (with objective distill). Streamed by keyset pages, so
 * memory stays flat.
 */
export async function* exportAccepted(db: Kysely<Database>, runId: string, pageSize = 2000): AsyncGenerator<string> {
  let pos = -1
  let idx = -1
  for (;;) {
    const rows = await base(db, runId)
      .select(['n.position', 's.sample_index', 's.messages', 's.distill'])
      .where('s.accepted', '=', true)
      .where((eb) => eb.or([eb('n.position', '>', pos), eb.and([eb('n.position', '=', pos), eb('s.sample_index', '>', idx)])]))
      .orderBy('n.position')
      .orderBy('s.sample_index')
      .limit(pageSize)
      .execute()
    if (rows.length === 0) return
    yield rows.map((r) => `${JSON.stringify({ messages: r.messages, ...(r.distill && { distill: r.distill }) })}\n`).join('')
    const last = rows[rows.length - 1]!
    pos = last.position
    idx = last.sample_index
  }
}
