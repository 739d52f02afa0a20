import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, EvalRunsTable } from '@sys2ft/db'
import { RetryableError, type JobContext } from '@sys2ft/service-kit'
import { WorkerClient, WorkerError, waitNotices, type WorkerClientOptions } from '@sys2ft/worker-client'
import { selectQuestions } from './questions.ts'
import { scoreGenerate, scoreLoglik, type ScoringTarget } from './scoring.ts'
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
  /** How often a long worker call leaves a `waiting` event (the default of waitNotices when absent). */
  noticeMs?: number | undefined
}

/** Which worker serves a run, and under which adapter name (the adapters table is the training service's). */
async function target(deps: ExecuteDeps, run: EvalRunRow, ctx: JobContext): Promise<ScoringTarget> {
  const call = { signal: ctx.signal, onWait: waitNotices((message, note) => void ctx.event('waiting', message, note).catch(() => {}), deps.noticeMs) }
  const withNews = run.mode === 'icl' || run.mode === 'ft_icl'
  if (!run.adapter_id) return { worker: new WorkerClient({ ...deps.client, baseURL: deps.workerUrl, apiKey: deps.workerApiKey, requestId: run.id }), model: run.model, adapter: null, withNews, call }
  const adapter = await deps.db.selectFrom('adapters').select(['location', 'worker_id']).where('id', '=', run.adapter_id).executeTakeFirstOrThrow()
  const key = adapter.worker_id ? (await deps.db.selectFrom('workers').select('api_key').where('id', '=', adapter.worker_id).executeTakeFirst())?.api_key : null
  return {
    worker: new WorkerClient({ ...deps.client, baseURL: adapter.location.worker_url, apiKey: key ?? deps.workerApiKey, requestId: run.id }),
    model: run.model,
    adapter: adapter.location.name,
    withNews,
    call,
  }
}

/**
 * Runs (or resumes) one evaluation run: the questions without a result are asked in chunks, each
 * chunk's results written in one multi-row insert that skips questions already recorded (a resumed
 * run, or a runner that lost its lease, never records a question twice). Progress is counted from
 * the table, so it stays right whoever wrote the rows. At the end the summary is computed and kept.
 */
export async function executeRun(deps: ExecuteDeps, run: EvalRunRow, ctx: JobContext): Promise<void> {
  const opts = run.options
  const questions = await selectQuestions(deps.db, run.set_id, run.filter)
  const doneIds = new Set((await deps.db.selectFrom('eval_results').select('question_id').where('run_id', '=', run.id).execute()).map((r) => r.question_id))
  const todo = questions.filter((q) => !doneIds.has(q.id))
  if (doneIds.size > 0) await ctx.event('resume', `resuming: ${doneIds.size} of ${questions.length} questions already scored`, { done: doneIds.size, total: questions.length })
  await ctx.update({ progress_done: doneIds.size, progress_total: questions.length })

  const where = await target(deps, run, ctx)
  const score = run.scoring === 'generate' ? scoreGenerate : scoreLoglik
  for (let i = 0; i < todo.length; i += opts.questions_per_call) {
    if (ctx.signal.aborted) return
    const chunk = todo.slice(i, i + opts.questions_per_call)
    const t0 = performance.now()
    const rows = await workerCall(() => score(run.id, chunk, opts, where), ctx)
    const t1 = performance.now()
    await deps.db.insertInto('eval_results').values(rows).onConflict((oc) => oc.columns(['run_id', 'question_id']).doNothing()).execute()
    const done = await countResults(deps.db, run.id)
    await ctx.update({ progress_done: done })
    const timing = { worker_ms: Math.round(t1 - t0), write_ms: Math.round(performance.now() - t1) }
    await ctx.event('progress', `${done}/${questions.length} questions`, { done, total: questions.length, questions: chunk.length, ...timing })
  }
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
