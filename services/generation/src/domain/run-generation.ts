import type { Kysely } from 'kysely'
import { copyRows, withBulkTransaction, type Database } from '@sys2ft/db'
import { RetryableError, storable, type JobContext } from '@sys2ft/service-kit'
import { WorkerError, WorkerPool, forEachConcurrently, waitNotices } from '@sys2ft/worker-client'
import { generateChunk, protocolModule, type ChunkResult, type Protocol } from '../protocols/index.ts'
import { runItems, type GenerationRunRow } from './generation-runs.ts'


export interface RunDeps {
  db: Kysely<Database>
  /** Where chunks go: one worker (SYS2FT_WORKER_URL), or the Ray pool's actors, one chunk per actor at a time. */
  workers: WorkerPool
  /** How often a long worker call leaves a `waiting` event (waitNotices' default when absent). */
  noticeMs?: number | undefined
}

/**
 * Runs (or resumes) one generation run: the news items still without samples are processed in
 * chunks of `items_per_call`, each chunk's samples written in one transaction together with the
 * run's counters. A resumed run skips the items already written; a runner that lost its lease
 * cannot write (the guard on lease_owner rolls the chunk back). With several workers (the Ray pool)
 * as many chunks run at once as there are workers, each chunk on one worker, each written in its own
 * transaction as it ends; with one worker, one chunk after the other.
 */
export async function runGeneration(deps: RunDeps, run: GenerationRunRow, ctx: JobContext): Promise<void> {
  const opts = run.options
  const protocol = run.protocol as Protocol
  const items = await runItems(deps.db, run.set_id, run.filter)
  const written = new Set((await deps.db.selectFrom('generation_samples').select('item_id').distinct().where('run_id', '=', run.id).execute()).map((r) => r.item_id))
  const todo = items.filter((i) => !written.has(i.id))

  if (protocolModule(protocol).usesModel && !(run.provenance as { worker?: unknown }).worker) {
    const info = await call(() => deps.workers.info(run.id))
    await ctx.update({ provenance: JSON.stringify({ ...(run.provenance as object), worker: { engine: info.engine, device: info.device, dtype: info.dtype, model: info.model.id, version: info.version }, generating_model: opts.model ?? info.model.id }) })
  }
  if (todo.length < items.length) await ctx.event('resume', `resuming: ${items.length - todo.length} of ${items.length} news items already done`)

  // a long call says so in the run's events, and says when the worker stops answering
  const onWait = waitNotices((message, note) => void ctx.event('waiting', message, note).catch(() => {}), deps.noticeMs)
  const chunks: (typeof todo)[] = []
  for (let i = 0; i < todo.length; i += opts.items_per_call) chunks.push(todo.slice(i, i + opts.items_per_call))
  await forEachConcurrently(chunks, await deps.workers.concurrency(), async (chunk) => {
    const { value: result, member } = await call(() => deps.workers.call(run.id, (worker) => generateChunk(protocol, chunk, opts, (body) => worker.generate(body, { signal: ctx.signal, onWait }), ctx.signal), ctx.signal))
    const counts = await writeChunk(deps.db, run.id, ctx.owner, result)
    await ctx.event('progress', `${counts.items_done}/${items.length} news items; +${counts.accepted} accepted, +${counts.rejected} rejected`, { chunk_items: chunk.length, worker_calls: result.calls, ...(deps.workers.kind === 'ray' && { worker: member.name }), ...counts })
  }, ctx.signal)
}

/** Worker failures: unreachable → retried later by the job runner (no attempt counted within its grace); anything else fails the run with the reason. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof WorkerError && err.unavailable) throw new RetryableError(err.message, { unavailable: true })
    throw err
  }
}

const COLUMNS = ['run_id', 'item_id', 'sample_index', 'accepted', 'reject_reason', 'messages', 'distill', 'raw', 'prompt_tokens', 'completion_tokens'] as const

/**
 * Writes one chunk's samples and the run's counters in one transaction, the samples by COPY. Chunks
 * only ever hold news items without samples (the run row is locked and the lease checked first), and
 * the key run × item × index turns any replay into a unique violation that rolls the whole chunk
 * back: nothing is written twice, nothing half.
 */
export async function writeChunk(db: Kysely<Database>, runId: string, owner: string, result: ChunkResult) {
  return withBulkTransaction(db, async (trx, client) => {
    const run = await trx.selectFrom('generation_runs').select(['rejected_by_reason', 'lease_owner', 'provenance']).where('id', '=', runId).forUpdate().executeTakeFirstOrThrow()
    if (run.lease_owner !== owner) throw new Error('lease lost before the chunk was written')
    await copyRows(client, 'generation_samples', [...COLUMNS], result.samples.map((s) => [runId, s.item_id, s.sample_index, s.accepted, s.reject_reason, s.messages ? storable(s.messages) : null, s.distill ?? null, storable(s.raw), s.prompt_tokens, s.completion_tokens]))
    let accepted = 0
    const reasons: Record<string, number> = { ...run.rejected_by_reason }
    for (const s of result.samples) {
      if (s.accepted) accepted += 1
      else reasons[s.reject_reason!] = (reasons[s.reject_reason!] ?? 0) + 1
    }
    const rejected = result.samples.length - accepted
    // the protocol's own counts (strategies proposed, pairs written, verdicts …), summed over the chunks
    const provenance = run.provenance as { protocol_stats?: Record<string, number> }
    const stats: Record<string, number> = { ...provenance.protocol_stats }
    for (const [k, v] of Object.entries(result.stats)) stats[k] = (stats[k] ?? 0) + v
    const updated = await trx
      .updateTable('generation_runs')
      .set((eb) => ({
        samples_accepted: eb('samples_accepted', '+', accepted),
        samples_rejected: eb('samples_rejected', '+', rejected),
        rejected_by_reason: JSON.stringify(reasons),
        ...(Object.keys(result.stats).length > 0 && { provenance: JSON.stringify({ ...provenance, protocol_stats: stats }) }),
        prompt_tokens: eb('prompt_tokens', '+', result.prompt_tokens),
        completion_tokens: eb('completion_tokens', '+', result.completion_tokens),
        worker_calls: eb('worker_calls', '+', result.calls),
        generation_s: eb('generation_s', '+', result.elapsed_s),
        progress_done: eb('progress_done', '+', new Set(result.samples.map((s) => s.item_id)).size),
        updated_at: new Date(),
      }))
      .where('id', '=', runId)
      .returning('progress_done')
      .executeTakeFirstOrThrow()
    return { accepted, rejected, items_done: updated.progress_done }
  })
}
