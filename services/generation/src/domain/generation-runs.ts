import type { Kysely, Selectable } from 'kysely'
import type { Database, GenerationRunsTable } from '@sys2ft/db'
import { DOMAINS, type Domain } from '@sys2ft/dataset'
import { ProblemError, invalid, isId, newId, notFound, requestCancel, recordEvent, resumeJob } from '@sys2ft/service-kit'
import { getSet } from './news-sets.ts'
import { Value } from 'typebox/value'
import { GenerationOptions as GenerationOptionsSchema } from '../schemas/generation-runs.ts'
import { VERIFY_TEMPLATES, protocolModule, type GenerationOptions, type Protocol } from '../protocols/index.ts'

export type GenerationRunRow = Selectable<GenerationRunsTable>

export type RunFilter = {
  domains?: Domain[] | undefined
  item_keys?: string[] | undefined
}

export interface CreateRunInput {
  news_set_id: string
  protocol: Protocol
  filter: RunFilter
  options: GenerationOptions
}

/** The news items a run covers, in the set's order. */
export async function runItems(db: Kysely<Database>, setId: string, filter: RunFilter) {
  let q = db.selectFrom('news_items').select(['id', 'key', 'position', 'title', 'date', 'text', 'domain']).where('set_id', '=', setId).orderBy('position')
  if (filter.domains?.length) q = q.where('domain', 'in', filter.domains)
  if (filter.item_keys?.length) q = q.where('key', 'in', filter.item_keys)
  return q.execute()
}

/** Validates a run against the stored set (exists, is a news set, the filter selects something) and queues it. */
export async function createRun(db: Kysely<Database>, input: CreateRunInput): Promise<GenerationRunRow> {
  const set = await getSet(db, input.news_set_id).catch((err) => {
    if (err instanceof ProblemError && err.status === 404) throw new ProblemError(404, 'not_found', `news set ${input.news_set_id} does not exist`, [{ path: '/news_set_id', message: 'no such news set' }])
    throw err
  })
  if (set.kind !== 'news') throw invalid([{ path: '/news_set_id', message: `is a ${set.kind} set; generation needs news items` }])
  const unknownDomains = (input.filter.domains ?? []).filter((d) => !(DOMAINS as readonly string[]).includes(d))
  if (unknownDomains.length) throw invalid([{ path: '/filter/domains', message: `unknown domain(s): ${unknownDomains.join(', ')}` }])
  const items = await runItems(db, set.id, input.filter)
  if (input.filter.item_keys?.length) {
    const found = new Set(items.map((i) => i.key))
    const missing = input.filter.item_keys.filter((k) => !found.has(k))
    if (missing.length) throw invalid([{ path: '/filter/item_keys', message: `not in set ${set.name}: ${missing.slice(0, 10).join(', ')}` }])
  }
  if (items.length === 0) throw invalid([{ path: '/filter', message: 'selects no news items' }])
  const id = newId('gen')
  const provenance = {
    protocol: input.protocol,
    template_version: protocolModule(input.protocol).templates.version,
    templates: { ...protocolModule(input.protocol).templates, ...(input.options.verify && { verify: VERIFY_TEMPLATES }) },
    dataset: { set_id: set.id, name: set.name, version: set.version, content_sha256: set.content_sha256 },
    options: input.options,
  }
  const row = await db.transaction().execute(async (trx) => {
    const r = await trx
      .insertInto('generation_runs')
      .values({
        id,
        set_id: set.id,
        protocol: input.protocol,
        options: JSON.stringify(input.options),
        filter: JSON.stringify(input.filter),
        provenance: JSON.stringify(provenance),
        progress_total: items.length,
        samples_requested: items.length * input.options.samples_per_news,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    await recordEvent(trx, 'generation_runs', id, { type: 'state', state: 'queued', message: `created: ${input.protocol} over ${items.length} news items` })
    return r
  })
  return row
}

export async function getRun(db: Kysely<Database>, id: string): Promise<GenerationRunRow> {
  const row = isId('gen', id) ? await db.selectFrom('generation_runs').selectAll().where('id', '=', id).executeTakeFirst() : undefined
  if (!row) throw notFound('generation run', id)
  return row
}

export async function listRuns(db: Kysely<Database>, q: { limit: number; after?: string | undefined; state?: string | undefined; news_set_id?: string | undefined; protocol?: string | undefined }) {
  let query = db.selectFrom('generation_runs').selectAll().orderBy('id', 'desc').limit(q.limit + 1)
  if (q.after) query = query.where('id', '<', q.after)
  if (q.state) query = query.where('state', '=', q.state as GenerationRunRow['state'])
  if (q.news_set_id) query = query.where('set_id', '=', q.news_set_id)
  if (q.protocol) query = query.where('protocol', '=', q.protocol)
  return query.execute()
}

/** Cancels a run (queued: at once; running: at the next lease renewal). Terminal runs stay as they are. */
export async function cancelRun(db: Kysely<Database>, id: string): Promise<void> {
  await getRun(db, id)
  await requestCancel(db, 'generation_runs', id, { what: 'generation run' })
}

/** Puts a failed or cancelled run back in the queue; it continues where it stood (samples kept). */
export async function resumeRun(db: Kysely<Database>, id: string): Promise<void> {
  await getRun(db, id)
  await resumeJob(db, 'generation_runs', id, { what: 'generation run' })
}

export function runOut(r: GenerationRunRow) {
  // a run stored before an option existed reads with its default (the answer's schema requires them all)
  const opts = Value.Default(GenerationOptionsSchema, structuredClone(r.options)) as GenerationOptions
  const elapsed = r.started_at ? ((r.finished_at ?? new Date()).getTime() - r.started_at.getTime()) / 1000 : 0
  return {
    id: r.id,
    object: 'generation_run' as const,
    news_set_id: r.set_id,
    protocol: r.protocol as Protocol,
    filter: r.filter,
    options: opts,
    state: r.state,
    progress: { done: r.progress_done, total: r.progress_total, unit: 'news' },
    samples: { requested: r.samples_requested, accepted: r.samples_accepted, rejected: r.samples_rejected, rejected_by_reason: r.rejected_by_reason },
    tokens: { prompt: Number(r.prompt_tokens), completion: Number(r.completion_tokens) },
    throughput: {
      worker_calls: r.worker_calls,
      generation_s: r.generation_s,
      completion_tokens_per_s: r.generation_s > 0 ? Number(r.completion_tokens) / r.generation_s : 0,
      samples_per_s: elapsed > 0 ? (r.samples_accepted + r.samples_rejected) / elapsed : 0,
    },
    provenance: r.provenance,
    attempts: r.attempts,
    error: r.error,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    started_at: r.started_at?.toISOString() ?? null,
    finished_at: r.finished_at?.toISOString() ?? null,
  }
}
