import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, EvalRunsTable } from '@sys2ft/db'
import { RetryableError, type JobContext } from '@sys2ft/service-kit'
import { WorkerError, WorkerPool, forEachConcurrently, waitNotices, type WorkerClientOptions } from '@sys2ft/worker-client'
import { selectQuestions } from './questions.ts'
import { scoreGenerate, scoreLoglik } from './scoring.ts'
import { loadScored, summarize } from './summary.ts'
import { DEFAULT_BOOTSTRAP } from './stats.ts'

export type EvalRunRow = Selectable<EvalRunsTable>

export interface ExecuteDeps {
  db: Kysely<Database>
  /** The worker for base and ICL runs (SYS2FT_WORKER_URL). */
  workerUrl: string
  workerApiKey: string | undefined
  /** Retries and timeouts of each worker call (the client's defaults when absent). */
  client?: Pick<WorkerClientOptions, 'retries' | 'retryDelayMs' | 'timeouts' | 'hang'>
  /** With the Ray backend: the launcher's engine actors, which serve base and ICL runs and every adapter trained on one of them (one shared registry). */
  ray?: WorkerPool | undefined
  /** How often a long worker call leaves a `waiting` event (the default of waitNotices when absent). */
  noticeMs?: number | undefined
}

/** Which workers serve a run, and under which adapter name (the adapters table is the training service's). */
async function target(deps: ExecuteDeps, run: EvalRunRow): Promise<{ pool: WorkerPool; adapter: string | null }> {
  if (!run.adapter_id) return { pool: deps.ray ?? WorkerPool.single(deps.workerUrl, deps.workerApiKey, deps.client), adapter: null }
  const adapter = await deps.db.selectFrom('adapters').select(['location', 'worker_id']).where('id', '=', run.adapter_id).executeTakeFirstOrThrow()
  if (deps.ray && adapter.location.pool === 'ray') return { pool: deps.ray, adapter: adapter.location.name }
  const key = adapter.worker_id ? (await deps.db.selectFrom('workers').select('api_key').where('id', '=', adapter.worker_id).executeTakeFirst())?.api_key : null
  return { pool: WorkerPool.single(adapter.location.worker_url, key ?? deps.workerApiKey, deps.client), adapter: adapter.location.name }
}

/**
 * Runs (or resumes) one evaluation run: the questions without a result are asked in chunks, each
 * chunk's results written in one multi-row insert that skips questions already recorded (a resumed
 * run, or a runner that lost its lease, never records a question twice). Progress is counted from
 * the table, so it stays right whoever wrote the rows. At the end the summary is computed and kept.
 * With the Ray pool as many chunks are scored at once as it has actors, each on one actor.
 */
export async function executeRun(deps: ExecuteDeps, run: EvalRunRow, ctx: JobContext): Promise<void> {
  const opts = run.options
  const questions = await selectQuestions(deps.db, run.set_id, run.filter)
  const doneIds = new Set((await deps.db.selectFrom('eval_results').select('question_id').where('run_id', '=', run.id).execute()).map((r) => r.question_id))
  const todo = questions.filter((q) => !doneIds.has(q.id))
  if (doneIds.size > 0) await ctx.event('resume', `resuming: ${doneIds.size} of ${questions.length} questions already scored`, { done: doneIds.size, total: questions.length })
  await ctx.update({ progress_done: doneIds.size, progress_total: questions.length })

  const { pool, adapter } = await target(deps, run)
  const call = { signal: ctx.signal, onWait: waitNotices((message, note) => void ctx.event('waiting', message, note).catch(() => {}), deps.noticeMs) }
  const withNews = run.mode === 'icl' || run.mode === 'ft_icl'
  const score = run.scoring === 'generate' ? scoreGenerate : scoreLoglik
  const chunks: (typeof todo)[] = []
  for (let i = 0; i < todo.length; i += opts.questions_per_call) chunks.push(todo.slice(i, i + opts.questions_per_call))
  let shown = doneIds.size // chunks end in any order: progress never goes back
  await forEachConcurrently(chunks, await pool.concurrency(), async (chunk) => {
    const t0 = performance.now()
    const { value: rows, member } = await workerCall(() => pool.call(run.id, (worker) => score(run.id, chunk, opts, { worker, model: run.model, adapter, withNews, call }), ctx.signal), ctx)
    const t1 = performance.now()
    await deps.db.insertInto('eval_results').values(rows).onConflict((oc) => oc.columns(['run_id', 'question_id']).doNothing()).execute()
    const done = (shown = Math.max(shown, await countResults(deps.db, run.id)))
    await ctx.update({ progress_done: done })
    const timing = { worker_ms: Math.round(t1 - t0), write_ms: Math.round(performance.now() - t1) }
    await ctx.event('progress', `${done}/${questions.length} questions`, { done, total: questions.length, questions: chunk.length, ...(pool.kind === 'ray' && { worker: member.name }), ...timing })
  }, ctx.signal)
  if (ctx.signal.aborted) return
  const primary = run.scoring === 'generate' ? 'generate' : (opts.primary ?? 'option_norm')
  const summary = summarize(await loadScored(deps.db, run.id), { total: questions.length, primary, settings: { ...DEFAULT_BOOTSTRAP, seed: opts.seed } })
  await ctx.update({ summary: JSON.stringify(summary) })
}

export async function countResults(db: Kysely<Database>, runId: string): Promise<number> {
  const r = await db.selectFrom('eval_results').select(sql<string>`count(*)`.as('n')).where('run_id', '=', runId).executeTakeFirstOrThrow()
  return Number(r.n)
}

/**
 * A worker that cannot be reached (down, restarting, overloaded: 502/503/504) sends the run back to
 * the queue; the job runner waits with a growing backoff and counts no attempt until the outage
 * outlasts its grace. What the run wrote so far stays. Any other worker error (an unknown model or
 * adapter, a prompt too long) fails the run with the worker's reason.
 */
async function workerCall<T>(fn: () => Promise<T>, ctx: JobContext): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (ctx.signal.aborted) throw err
    if (err instanceof WorkerError && err.unavailable) throw new RetryableError(err.message, { unavailable: true })
    throw err
  }
}
