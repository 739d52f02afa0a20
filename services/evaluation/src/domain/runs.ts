import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { invalid, isId, newId, notFound, recordEvent, resumeJob, type FieldError } from '@sys2ft/service-kit'
import type { CreateEvalRunT, EvalRunT, FilterT, ResolvedOptions } from '../schemas/eval-runs.ts'
import type { SummaryT } from '../schemas/summary.ts'
import { DEFAULT_ANSWER_PREFIX, EVAL_TEMPLATE_SHA256, EVAL_TEMPLATE_VERSION } from '@sys2ft/dataset'
import { filterErrors, questionIdsSha256, selectQuestions } from './questions.ts'
import { loadScored, summarize } from './summary.ts'
import { CLUSTERS, DEFAULT_BOOTSTRAP } from './stats.ts'
import type { EvalRunRow } from './execute.ts'

const GENERATE_ONLY = ['reasoning', 'max_tokens', 'temperature', 'unparsed'] as const
const LOGLIK_ONLY = ['primary'] as const
/** A worker call retried this often when the worker is unreachable, then the run fails (and can be resumed). */
const MAX_ATTEMPTS = 5

/** The run's options with every default written out, so the stored run says exactly what was done. */
function resolveOptions(body: CreateEvalRunT, scoring: 'loglik' | 'generate'): ResolvedOptions {
  const o = body.options ?? {}
  const base = {
    seed: o.seed ?? 0, shuffle: o.shuffle ?? true, questions_per_call: o.questions_per_call ?? (scoring === 'loglik' ? 32 : 16),
    template_version: EVAL_TEMPLATE_VERSION, answer_prefix: o.answer_prefix ?? DEFAULT_ANSWER_PREFIX,
  }
  if (scoring === 'loglik') return { ...base, primary: o.primary ?? 'option_norm' }
  const reasoning = o.reasoning ?? true
  return { ...base, reasoning, max_tokens: o.max_tokens ?? (reasoning ? 1024 : 16), temperature: o.temperature ?? 0, unparsed: o.unparsed ?? 'fallback' }
}

/**
 * Checks a new run against the database (set, adapter, filter) and stores it queued. Every problem
 * is reported at once, naming its field, and nothing is stored unless all is well.
 */
export async function createRun(db: Kysely<Database>, body: CreateEvalRunT, ctx: { workerUrl: string; service: { name: string; version: string }; checkModel?: (model: string) => Promise<string | undefined> }): Promise<EvalRunRow> {
  const errors: FieldError[] = []
  const scoring = body.scoring ?? 'loglik'
  const filter: FilterT = body.filter ?? {}
  const set = isId('ns', body.set_id) ? await db.selectFrom('news_sets').selectAll().where('id', '=', body.set_id).executeTakeFirst() : undefined
  if (!set) errors.push({ path: '/set_id', message: `no news set ${body.set_id}` })
  const usesAdapter = body.mode === 'ft' || body.mode === 'ft_icl'
  let adapter: { id: string; name: string; base_model: string; location: { worker_url: string; name: string }; data_sha256: string; job_id: string; compute: Record<string, unknown> } | undefined
  if (usesAdapter && !body.adapter_id) errors.push({ path: '/adapter_id', message: `is required for mode ${body.mode}` })
  if (!usesAdapter && body.adapter_id) errors.push({ path: '/adapter_id', message: `must be absent for mode ${body.mode} (the base model answers; use ft or ft_icl for an adapter)` })
  if (usesAdapter && body.adapter_id) {
    adapter = isId('ad', body.adapter_id) ? await db.selectFrom('adapters').select(['id', 'name', 'base_model', 'location', 'data_sha256', 'job_id', 'compute']).where('id', '=', body.adapter_id).executeTakeFirst() : undefined
    if (!adapter) errors.push({ path: '/adapter_id', message: `no adapter ${body.adapter_id}` })
    else if (adapter.base_model !== body.model) errors.push({ path: '/model', message: `must be the adapter's base model: adapter ${adapter.id} was trained on ${adapter.base_model}` })
  }
  if (!usesAdapter && ctx.checkModel) {
    const wrong = await ctx.checkModel(body.model)
    if (wrong) errors.push({ path: '/model', message: wrong })
  }
  if (set?.kind === 'control' && (body.mode === 'icl' || body.mode === 'ft_icl')) errors.push({ path: '/mode', message: `${set.name} is a control set: it has no news to put in context; use base or ft` })
  const given = body.options ?? {}
  for (const k of scoring === 'loglik' ? GENERATE_ONLY : LOGLIK_ONLY) if (given[k] !== undefined) errors.push({ path: `/options/${k}`, message: `applies to scoring ${scoring === 'loglik' ? 'generate' : 'loglik'} only` })
  if (set) errors.push(...(await filterErrors(db, set, filter)))
  if (errors.length) throw invalid(errors, `invalid eval run: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`)

  const questions = await selectQuestions(db, set!.id, filter)
  if (questions.length === 0) throw invalid([{ path: '/filter', message: `selects no question of set ${set!.name}` }], 'the filter selects no question')
  const bad = questions.find((q) => q.options.length < 2 || q.options.length > 8)
  if (bad) throw invalid([{ path: '/set_id', message: `question ${bad.key} has ${bad.options.length} options; 2 to 8 can be scored` }])

  const options = resolveOptions(body, scoring)
  const provenance = {
    prompt_template: { version: EVAL_TEMPLATE_VERSION, sha256: EVAL_TEMPLATE_SHA256, answer_prefix: options.answer_prefix },
    set: { id: set!.id, name: set!.name, kind: set!.kind, version: set!.version, content_sha256: set!.content_sha256 },
    questions: { count: questions.length, ids_sha256: questionIdsSha256(questions) },
    seed: options.seed,
    worker: adapter ? { url: adapter.location.worker_url, adapter: adapter.location.name } : { url: ctx.workerUrl, adapter: null },
    adapter: adapter ? { id: adapter.id, name: adapter.name, base_model: adapter.base_model, job_id: adapter.job_id, data_sha256: adapter.data_sha256, compute: adapter.compute } : null,
    bootstrap: { ...DEFAULT_BOOTSTRAP, seed: options.seed },
    service: ctx.service,
  }
  const id = newId('ev')
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('eval_runs')
      .values({
        id, model: body.model, adapter_id: adapter?.id ?? null, set_id: set!.id, filter: JSON.stringify(filter), mode: body.mode, scoring,
        options: JSON.stringify(options), provenance: JSON.stringify(provenance), progress_total: questions.length, max_attempts: MAX_ATTEMPTS,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    await recordEvent(trx, 'eval_runs', id, { type: 'state', state: 'queued', message: `created: ${questions.length} questions, mode ${body.mode}, scoring ${scoring}` })
    return row
  })
}

export async function getRun(db: Kysely<Database>, id: string): Promise<EvalRunRow> {
  const row = isId('ev', id) ? await db.selectFrom('eval_runs').selectAll().where('id', '=', id).executeTakeFirst() : undefined
  if (!row) throw notFound('eval run', id)
  return row
}

export async function listRuns(db: Kysely<Database>, q: { limit: number; after?: string | undefined; state?: string | undefined; mode?: string | undefined; set_id?: string | undefined; adapter_id?: string | undefined; model?: string | undefined }): Promise<EvalRunRow[]> {
  let query = db.selectFrom('eval_runs').selectAll().orderBy('id').limit(q.limit + 1)
  if (q.after) query = query.where('id', '>', q.after)
  if (q.state) query = query.where('state', '=', q.state as EvalRunRow['state'])
  if (q.mode) query = query.where('mode', '=', q.mode as EvalRunRow['mode'])
  if (q.set_id) query = query.where('set_id', '=', q.set_id)
  if (q.adapter_id) query = query.where('adapter_id', '=', q.adapter_id)
  if (q.model) query = query.where('model', '=', q.model)
  return query.execute()
}

/** The primary choice rule of a run: what its `correct` column measures. */
export const primaryOf = (run: EvalRunRow) => (run.scoring === 'generate' ? 'generate' : (run.options.primary ?? 'option_norm'))

/**
 * The summary a reader sees: the stored one once the run succeeded; otherwise computed from the
 * results so far without intervals (cheap enough for every GET of a running run).
 */
export async function currentSummary(db: Kysely<Database>, run: EvalRunRow, opts: { intervals?: boolean } = {}): Promise<SummaryT | null> {
  const stored = run.summary
  // a summary stored before the cluster bootstrap has per-question intervals (too narrow): recompute it
  const current = stored?.bootstrap?.resampled === CLUSTERS
  if (stored && !stored.partial && current) return stored
  const rows = await loadScored(db, run.id)
  if (rows.length === 0) return null
  const seed = run.options.seed
  const intervals = opts.intervals || (stored !== null && !stored.partial)
  return summarize(rows, { total: run.progress_total, primary: primaryOf(run), settings: { ...DEFAULT_BOOTSTRAP, seed, resamples: intervals ? DEFAULT_BOOTSTRAP.resamples : 0 } })
}

export function runOut(run: EvalRunRow, summary: SummaryT | null): EvalRunT {
  const iso = (d: Date | null) => (d ? d.toISOString() : null)
  return {
    id: run.id, object: 'eval_run', model: run.model, adapter_id: run.adapter_id, set_id: run.set_id, mode: run.mode, scoring: run.scoring,
    filter: run.filter, options: run.options, state: run.state, progress: { done: run.progress_done, total: run.progress_total },
    attempts: run.attempts, error: run.error, provenance: run.provenance, summary,
    created_at: run.created_at.toISOString(), updated_at: run.updated_at.toISOString(), started_at: iso(run.started_at), finished_at: iso(run.finished_at),
  }
}

/**
 * Puts a failed or cancelled run back in the queue with fresh attempts; it continues where it
 * stopped (questions already scored are kept). A queued, running or succeeded run is a conflict.
 */
export async function resumeRun(db: Kysely<Database>, id: string): Promise<EvalRunRow> {
  await getRun(db, id)
  await resumeJob(db, 'eval_runs', id, { what: 'eval run' })
  return getRun(db, id)
}

