import type { Kysely, Selectable } from 'kysely'
import type { Database, TrainingJobsTable } from '@sys2ft/db'
import { ProblemError, isId, newId, notFound, recordEvent, requestCancel, conflict } from '@sys2ft/service-kit'
import type { CreateJobBodyType, TrainingJobOut } from '../schemas/training-jobs.ts'
import { MIXING_RULE, resolveData, type ResolvedSource } from './training-data.ts'
import { servedModels } from './workers.ts'

export type JobRow = Selectable<TrainingJobsTable>

/** What the dispatcher keeps in the `progress` column (the worker's latest status). */
export type StoredProgress = {
  epoch?: number
  loss?: number | null
  learning_rate?: number
  tokens_seen?: number
  tokens_per_s?: number
  elapsed_s?: number
  eta_s?: number | null
  /** The last step whose loss is in the events table (internal: loss points are written once). */
  last_loss_step?: number
}

export type StoredCompute = {
  trainable_params?: number
  total_params?: number
  tokens_trained?: number
  flops?: number
  wall_s?: number
  train_s?: number
}

export interface JobData {
  sources: CreateJobBodyType['data']
  resolved: ResolvedSource[]
  mixing: string
}

/**
 * Validates a new job completely (sources resolved and mixed, the base model served by a registered
 * worker) and stores it queued with its creation event, in one transaction. Any problem answers 4xx
 * naming the field, and nothing is stored.
 */
export async function createJob(db: Kysely<Database>, body: CreateJobBodyType, defaults: { maxAttempts: number }): Promise<JobRow> {
  const models = await servedModels(db)
  if (!models.includes(body.base_model)) {
    throw new ProblemError(400, 'validation_failed', `no registered worker serves ${body.base_model}`, [
      { path: '/base_model', message: models.length ? `no registered worker serves it; served: ${models.join(', ')}` : 'no registered worker serves it (no worker has answered a health check yet)' },
    ])
  }
  const { resolved, examples, sha256 } = await resolveData(db, body.data, body.seed, body.hyperparameters.objective)
  const id = newId('job')
  const data: JobData = { sources: body.data, resolved, mixing: MIXING_RULE }
  try {
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('training_jobs')
        .values({
          id,
          name: body.name ?? id,
          base_model: body.base_model,
          data: JSON.stringify(data),
          settings: JSON.stringify(body.hyperparameters),
          seed: body.seed,
          example_count: examples.length,
          data_sha256: sha256,
          max_attempts: body.max_attempts ?? defaults.maxAttempts,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
      await recordEvent(trx, 'training_jobs', id, { type: 'state', state: 'queued', message: `created: ${examples.length} examples from ${resolved.length} source(s)`, data: { resolved } })
      return row
    })
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new ProblemError(409, 'conflict', `a training job named ${body.name} exists already (queued, running or succeeded)`, [{ path: '/name', message: 'is taken' }])
    throw err
  }
}

export async function getJob(db: Kysely<Database>, id: string): Promise<JobRow> {
  const row = isId('job', id) ? await db.selectFrom('training_jobs').selectAll().where('id', '=', id).executeTakeFirst() : undefined
  if (!row) throw notFound('training job', id)
  return row
}

export async function listJobs(db: Kysely<Database>, q: { limit: number; after?: string | undefined; state?: JobRow['state'] | undefined; base_model?: string | undefined; name?: string | undefined; worker_id?: string | undefined }): Promise<JobRow[]> {
  let query = db.selectFrom('training_jobs').selectAll().orderBy('id').limit(q.limit + 1)
  if (q.after) query = query.where('id', '>', q.after)
  if (q.state) query = query.where('state', '=', q.state)
  if (q.base_model) query = query.where('base_model', '=', q.base_model)
  if (q.name) query = query.where('name', '=', q.name)
  if (q.worker_id) query = query.where('worker_id', '=', q.worker_id)
  return query.execute()
}

/**
 * Cancels a job: a queued one at once; a dispatched or running one is flagged, and the dispatcher
 * holding it cancels the training on its worker and records `cancelled` when the worker confirms.
 * Cancelling a cancelled job changes nothing; a succeeded or failed one is a conflict.
 */
export async function cancelJob(db: Kysely<Database>, id: string): Promise<JobRow> {
  await getJob(db, id)
  await requestCancel(db, 'training_jobs', id, { what: 'training job' })
  return getJob(db, id)
}

/**
 * Resumes a failed or cancelled job: back in the queue with its attempts reset. A LoRA training has
 * no checkpoint to continue from, so the job trains again from the start, on the same examples (the
 * dispatcher checks their hash). Refused when another live job has taken the job's name meanwhile.
 */
export async function resumeJob(db: Kysely<Database>, id: string): Promise<JobRow> {
  const job = await getJob(db, id)
  if (job.state !== 'failed' && job.state !== 'cancelled') throw conflict(`training job ${id} is ${job.state}; only a failed or cancelled job can be resumed`)
  try {
    await db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('training_jobs')
        .set({ state: 'queued', attempts: 0, error: null, cancel_requested: false, finished_at: null, worker_id: null, worker_training_id: null, updated_at: new Date() })
        .where('id', '=', id)
        .where('state', 'in', ['failed', 'cancelled'])
        .returning('id')
        .executeTakeFirst()
      if (!row) throw conflict(`training job ${id} changed state meanwhile; look again`)
      await recordEvent(trx, 'training_jobs', id, { type: 'state', state: 'queued', message: `resumed after it was ${job.state}; it trains again from the start` })
    })
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new ProblemError(409, 'conflict', `another job named ${job.name} is queued, running or succeeded`, [{ path: '/name', message: 'is taken' }])
    throw err
  }
  return getJob(db, id)
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null)

export function jobOut(j: JobRow): TrainingJobOut {
  const p = j.progress
  const c = j.compute
  const hp = j.settings
  return {
    id: j.id,
    object: 'training_job',
    name: j.name,
    state: j.state,
    base_model: j.base_model,
    data: j.data,
    // a job stored before objectives existed trained with sft
    hyperparameters: { ...hp, objective: hp.objective ?? 'sft' },
    seed: j.seed,
    example_count: j.example_count,
    data_sha256: j.data_sha256 ?? '',
    worker_id: j.worker_id,
    worker_training_id: j.worker_training_id,
    attempts: j.attempts,
    max_attempts: j.max_attempts,
    cancel_requested: j.cancel_requested,
    progress: {
      done: j.progress_done,
      total: j.progress_total,
      epoch: num(p.epoch),
      epochs: hp.epochs,
      loss: num(p.loss),
      learning_rate: num(p.learning_rate),
      tokens_seen: p.tokens_seen ?? 0,
      tokens_per_s: num(p.tokens_per_s),
      elapsed_s: num(p.elapsed_s),
      eta_s: num(p.eta_s),
    },
    compute: {
      trainable_params: num(c.trainable_params),
      total_params: num(c.total_params),
      tokens_trained: c.tokens_trained ?? 0,
      flops: num(c.flops),
      wall_s: num(c.wall_s),
      train_s: num(c.train_s),
    },
    adapter_id: j.adapter_id,
    error: j.error,
    created_at: j.created_at.toISOString(),
    started_at: j.started_at?.toISOString() ?? null,
    finished_at: j.finished_at?.toISOString() ?? null,
    updated_at: j.updated_at.toISOString(),
  }
}

/** A job's events after a cursor, oldest first, optionally of one type (`loss`: the loss curve). */
export async function listJobEvents(db: Kysely<Database>, jobId: string, q: { limit: number; after?: string | undefined; type?: string | undefined }) {
  let query = db.selectFrom('training_job_events').select(['id', 'type', 'state', 'message', 'data', 'created_at']).where('job_id', '=', jobId).orderBy('id').limit(q.limit + 1)
  if (q.after) query = query.where('id', '>', q.after)
  if (q.type) query = query.where('type', '=', q.type)
  const rows = await query.execute()
  const has_more = rows.length > q.limit
  const data = rows.slice(0, q.limit).map((r) => ({ id: String(r.id), type: r.type, state: r.state, message: r.message, data: r.data ?? null, created_at: r.created_at.toISOString() }))
  return { data, has_more, next_cursor: has_more ? data[data.length - 1]!.id : null }
}
