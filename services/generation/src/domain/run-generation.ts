import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { RetryableError, type JobContext } from '@sys2ft/service-kit'
import { WorkerClient, WorkerError } from '@sys2ft/worker-client'
import { generateChunk, type ChunkResult, type GenerationOptions, type Protocol } from './protocols/generate.ts'
import { runItems, type GenerationRunRow, type RunFilter } from './generation-runs.ts'

const INSERT_BATCH = 1000

/** Postgres text and jsonb cannot hold NUL characters; model output sometimes has them. */
export function stripNul<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '') as T
  if (Array.isArray(value)) return value.map(stripNul) as T
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripNul(v)])) as T
  return value
}

export interface RunDeps {
  db: Kysely<Database>
  worker: WorkerClient
}

/**
 * Runs (or resumes) one generation run: the news items still without samples are processed in
 * chunks of `items_per_call`, each chunk's samples written in one transaction together with the
 * run's counters. A resumed run skips the items already written; a runner that lost its lease
 * cannot write (the guard on lease_owner rolls the chunk back).
 */
export async function runGeneration(deps: RunDeps, run: GenerationRunRow, ctx: JobContext): Promise<void> {
  const opts = run.options as unknown as GenerationOptions
  const protocol = run.protocol as Protocol
  const worker = deps.worker.withRequestId(run.id)
  const items = await runItems(deps.db, run.set_id, run.filter as RunFilter)
  const written = new Set((await deps.db.selectFrom('generation_samples').select('item_id').distinct().where('run_id', '=', run.id).execute()).map((r) => r.item_id))
  const todo = items.filter((i) => !written.has(i.id))

  if (protocol !== 'naive' && !(run.provenance as { worker?: unknown }).worker) {
    const info = await call(() => worker.info())
    await ctx.update({ provenance: JSON.stringify({ ...(run.provenance as object), worker: { engine: info.engine, device: info.device, dtype: info.dtype, model: info.model.id, version: info.version }, generating_model: opts.model ?? info.model.id }) })
  }
  if (todo.length < items.length) await ctx.event('resume', `resuming: ${items.length - todo.length} of ${items.length} news items already done`)

  for (let i = 0; i < todo.length; i += opts.items_per_call) {
    if (ctx.signal.aborted) return
    const chunk = todo.slice(i, i + opts.items_per_call)
    const result = await call(() => generateChunk(protocol, chunk, opts, (body) => worker.generate(body), ctx.signal))
    const counts = await writeChunk(deps.db, run.id, ctx.owner, result)
    await ctx.event('progress', `${counts.items_done}/${items.length} news items; +${counts.accepted} accepted, +${counts.rejected} rejected`, { chunk_items: chunk.length, worker_calls: result.calls, ...counts })
  }
}

/** Worker failures: unreachable → retried later (attempts counted); anything else fails the run with the reason. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof WorkerError && err.unavailable) throw new RetryableError(err.message)
    throw err
  }
}

async function writeChunk(db: Kysely<Database>, runId: string, owner: string, result: ChunkResult) {
  return db.transaction().execute(async (trx) => {
    const run = await trx.selectFrom('generation_runs').select(['rejected_by_reason', 'lease_owner']).where('id', '=', runId).forUpdate().executeTakeFirstOrThrow()
    if (run.lease_owner !== owner) throw new Error('lease lost before the chunk was written')
    let accepted = 0
    let rejected = 0
    const reasons: Record<string, number> = { ...run.rejected_by_reason }
    for (let i = 0; i < result.samples.length; i += INSERT_BATCH) {
      const rows = result.samples.slice(i, i + INSERT_BATCH).map((s) => ({
        run_id: runId,
        item_id: s.item_id,
        sample_index: s.sample_index,
        accepted: s.accepted,
        reject_reason: s.reject_reason,
        messages: s.messages ? JSON.stringify(stripNul(s.messages)) : null,
        raw: JSON.stringify(stripNul(s.raw)),
        prompt_tokens: s.prompt_tokens,
        completion_tokens: s.completion_tokens,
      }))
      const inserted = await trx.insertInto('generation_samples').values(rows).onConflict((oc) => oc.doNothing()).returning(['accepted', 'reject_reason']).execute()
      for (const r of inserted) {
        if (r.accepted) accepted += 1
        else {
          rejected += 1
          reasons[r.reject_reason!] = (reasons[r.reject_reason!] ?? 0) + 1
        }
      }
    }
    const done = await trx.selectFrom('generation_samples').select((eb) => eb.fn.count<number>('item_id').distinct().as('n')).where('run_id', '=', runId).executeTakeFirstOrThrow()
    await trx
      .updateTable('generation_runs')
      .set((eb) => ({
        samples_accepted: eb('samples_accepted', '+', accepted),
        samples_rejected: eb('samples_rejected', '+', rejected),
        rejected_by_reason: JSON.stringify(reasons),
        prompt_tokens: eb('prompt_tokens', '+', result.prompt_tokens),
        completion_tokens: eb('completion_tokens', '+', result.completion_tokens),
        worker_calls: eb('worker_calls', '+', result.calls),
        generation_s: eb('generation_s', '+', result.elapsed_s),
        progress_done: Number(done.n),
        updated_at: new Date(),
      }))
      .where('id', '=', runId)
      .execute()
    return { accepted, rejected, items_done: Number(done.n) }
  })
}
