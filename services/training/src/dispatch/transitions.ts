import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely'
import type { Database } from '@sys2ft/db'
import { newId, recordEvent } from '@sys2ft/service-kit'
import type { AdapterManifest, TrainingStatus } from '@sys2ft/worker-client'
import type { JobRow, StoredCompute, StoredProgress } from '../domain/training-jobs.ts'
import { ACTIVE_STATES, type WorkerRow } from '../domain/workers.ts'
import { trainingIdFor } from './worker-pool.ts'

type Db = Kysely<Database> | Transaction<Database>

/** FLOPs of a training, 6·N·D: ~2·N·D forward + ~4·N·D backward per token, N = total parameters. */
export const trainingFlops = (totalParams: number, tokens: number) => 6 * totalParams * tokens

const seconds = (from: Date | null) => (from ? (Date.now() - from.getTime()) / 1000 : null)

/**
 * Every write the dispatcher makes to a job it holds. Each one is guarded by the lease (this owner,
 * the same attempt, an active state), so a dispatcher that lost a job to another instance (or to a
 * requeue) changes nothing; the state change and its event are written in one transaction.
 */
export class Transitions {
  constructor(
    private readonly db: Kysely<Database>,
    readonly owner: string,
    private readonly leaseMs: number,
  ) {}

  private lease = () => new Date(Date.now() + this.leaseMs)

  private held(trx: Db, job: JobRow) {
    return trx
      .updateTable('training_jobs')
      .where('id', '=', job.id)
      .where('lease_owner', '=', this.owner)
      .where('state', 'in', ACTIVE_STATES)
      .where((eb) => (job.worker_training_id === null ? eb('worker_training_id', 'is', null) : eb('worker_training_id', '=', job.worker_training_id)))
  }

  /**
   * Takes the oldest queued job that a free worker serving its base model can run, and that worker,
   * in one transaction: both rows locked with SKIP LOCKED, so two dispatchers never take one job or
   * one worker; the partial unique index `training_jobs_one_per_worker` is the last word (a violation
   * here is a lost race: the caller simply tries again).
   */
  async claim(): Promise<{ job: JobRow; worker: WorkerRow } | null> {
    return this.db.transaction().execute(async (trx) => {
      // up, serving the model, and holding no dispatched or running job
      const freeWorkers = (model: string | RawBuilder<string>) =>
        trx
          .selectFrom('workers as w')
          .where('w.status', '=', 'up')
          .where('w.model', '=', model)
          .where((eb) => eb.not(eb.exists(eb.selectFrom('training_jobs as a').select('a.id').whereRef('a.worker_id', '=', 'w.id').where('a.state', 'in', ACTIVE_STATES))))
      const job = await trx
        .selectFrom('training_jobs as j')
        .selectAll('j')
        .where('j.state', '=', 'queued')
        .where('j.cancel_requested', '=', false)
        .where((eb) => eb.exists(freeWorkers(sql<string>`j.base_model`).select('w.id')))
        .orderBy('j.created_at')
        .orderBy('j.id')
        .limit(1)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst()
      if (!job) return null
      const worker = await freeWorkers(job.base_model).selectAll('w').orderBy('w.id').limit(1).forUpdate().skipLocked().executeTakeFirst()
      if (!worker) return null
      const attempt = job.attempts + 1
      // the worker's training id counts every dispatch of the job, never reused: not after a resume
      // (attempts start again) nor after an attempt that never started (not counted)
      const dispatches = await trx.selectFrom('training_job_events').select((eb) => eb.fn.countAll<number>().as('n')).where('job_id', '=', job.id).where('state', '=', 'dispatched').executeTakeFirstOrThrow()
      const claimed = await trx
        .updateTable('training_jobs')
        .set({
          state: 'dispatched',
          worker_id: worker.id,
          worker_training_id: trainingIdFor(job.id, Number(dispatches.n) + 1),
          attempts: attempt,
          lease_owner: this.owner,
          lease_expires_at: this.lease(),
          started_at: job.started_at ?? new Date(),
          progress: JSON.stringify({}),
          progress_done: 0,
          progress_total: 0,
          updated_at: new Date(),
        })
        .where('id', '=', job.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      await recordEvent(trx, 'training_jobs', job.id, { type: 'state', state: 'dispatched', message: `attempt ${attempt} of ${job.max_attempts} on worker ${worker.name}`, data: { worker_id: worker.id, worker_training_id: claimed.worker_training_id, owner: this.owner } })
      return { job: claimed, worker: worker as WorkerRow }
    })
  }

  /** The worker accepted the training. */
  async markRunning(job: JobRow, worker: WorkerRow, status: TrainingStatus): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await this.held(trx, job).where('state', '=', 'dispatched').set({ state: 'running', lease_expires_at: this.lease(), updated_at: new Date() }).returning('id').executeTakeFirst()
      if (row) await recordEvent(trx, 'training_jobs', job.id, { type: 'state', state: 'running', message: `training ${status.id} ${status.state} on worker ${worker.name}`, data: { worker_training_id: status.id } })
      return Boolean(row)
    })
  }

  /**
   * The worker answered with the training's status: the heartbeat. Renews the lease, copies the
   * progress into the job and appends the new loss points as events (one multi-row insert).
   */
  async progress(job: JobRow, worker: WorkerRow, status: TrainingStatus): Promise<boolean> {
    const prev = job.progress
    const lastStep = prev.last_loss_step ?? 0
    const points = status.loss_history.filter((p) => p.step > lastStep)
    const eta = status.step > 0 && status.total_steps > status.step ? (status.elapsed_s / status.step) * (status.total_steps - status.step) : status.total_steps > 0 && status.step === status.total_steps ? 0 : null
    const progress: StoredProgress = {
      epoch: status.epoch,
      loss: status.loss,
      learning_rate: status.learning_rate,
      tokens_seen: status.tokens_seen,
      tokens_per_s: status.tokens_per_s,
      elapsed_s: status.elapsed_s,
      eta_s: eta,
      last_loss_step: points.length ? points[points.length - 1]!.step : lastStep,
    }
    return this.db.transaction().execute(async (trx) => {
      const row = await this.held(trx, job)
        .set({ progress: JSON.stringify(progress), progress_done: status.step, progress_total: status.total_steps, compute: JSON.stringify(this.compute(job, status.trainable_params, status.total_params, status.tokens_seen, null)), lease_expires_at: this.lease(), updated_at: new Date() })
        .returning(['id', 'state'])
        .executeTakeFirst()
      if (!row) return false
      if (row.state === 'dispatched') {
        await trx.updateTable('training_jobs').set({ state: 'running' }).where('id', '=', job.id).execute()
        await recordEvent(trx, 'training_jobs', job.id, { type: 'state', state: 'running', message: `training ${status.id} ${status.state} on worker ${worker.name}`, data: { worker_training_id: status.id } })
      }
      if (points.length) {
        await trx
          .insertInto('training_job_events')
          .values(points.map((p) => ({ job_id: job.id, type: 'loss', state: null, message: '', data: JSON.stringify({ attempt: job.attempts, step: p.step, loss: p.loss, learning_rate: p.learning_rate, tokens_seen: p.tokens_seen, elapsed_s: p.elapsed_s }) })))
          .execute()
      }
      return true
    })
  }

  private compute(job: JobRow, trainable: number, total: number, tokens: number, trainS: number | null): StoredCompute {
    return {
      ...(trainable > 0 ? { trainable_params: trainable } : {}),
      ...(total > 0 ? { total_params: total, flops: trainingFlops(total, tokens) } : {}),
      tokens_trained: tokens,
      ...(job.started_at ? { wall_s: seconds(job.started_at)! } : {}),
      ...(trainS !== null ? { train_s: trainS } : {}),
    }
  }

  /** The training succeeded: the job records it and its adapter is registered, in one transaction. */
  async succeed(job: JobRow, worker: WorkerRow, manifest: AdapterManifest, status: TrainingStatus | null): Promise<string | null> {
    if (status) await this.progress(job, worker, status)
    const adapterId = newId('ad')
    const compute = this.compute(job, manifest.trainable_params, manifest.total_params, manifest.tokens_trained, manifest.elapsed_s)
    return this.db.transaction().execute(async (trx) => {
      const row = await this.held(trx, job)
        .set((eb) => ({ state: 'succeeded', adapter_id: adapterId, compute: JSON.stringify(compute), progress_done: eb.ref('progress_total'), finished_at: new Date(), lease_owner: null, lease_expires_at: null, error: null, updated_at: new Date() }))
        .returning('id')
        .executeTakeFirst()
      if (!row) return null
      await trx
        .insertInto('adapters')
        .values({
          id: adapterId,
          name: job.name,
          job_id: job.id,
          base_model: job.base_model,
          worker_id: worker.id,
          location: JSON.stringify({ worker_id: worker.id, worker_url: worker.url, name: manifest.name, ...(worker.labels.backend === 'ray' && { pool: 'ray' }) }),
          data_sha256: manifest.data_sha256,
          hyperparameters: JSON.stringify(job.settings),
          final_loss: manifest.final_loss,
          compute: JSON.stringify(compute),
          manifest: JSON.stringify(manifest),
        })
        .execute()
      const sameData = manifest.data_sha256 === job.data_sha256
      await recordEvent(trx, 'training_jobs', job.id, {
        type: 'state',
        state: 'succeeded',
        message: `adapter ${adapterId} (${manifest.name} on worker ${worker.name}), final loss ${manifest.final_loss ?? 'n/a'}${sameData ? '' : '; WARNING: the worker hashed different data than the job'}`,
        data: { adapter_id: adapterId, compute },
      })
      return adapterId
    })
  }

  async fail(job: JobRow, reason: string): Promise<void> {
    await this.end(job, 'failed', reason)
  }

  async cancelled(job: JobRow, message: string): Promise<void> {
    await this.end(job, 'cancelled', message)
  }

  private async end(job: JobRow, state: 'failed' | 'cancelled', message: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await this.held(trx, job)
        .set({ state, error: state === 'failed' ? message : null, finished_at: new Date(), lease_owner: null, lease_expires_at: null, updated_at: new Date() })
        .returning('id')
        .executeTakeFirst()
      if (row) await recordEvent(trx, 'training_jobs', job.id, { type: 'state', state, message })
    })
  }

  /**
   * Puts a job back in the queue for another worker. `counted`: the attempt ran (its worker died,
   * restarted or stopped answering) and counts; past max_attempts the job fails with the reason.
   * Not counted: the attempt never started (the worker refused it or could not be reached to start it).
   */
  async requeue(job: JobRow, reason: string, counted: boolean): Promise<'queued' | 'failed' | null> {
    const giveUp = counted && job.attempts >= job.max_attempts
    return this.db.transaction().execute(async (trx) => {
      const row = await this.held(trx, job)
        .set(
          giveUp
            ? { state: 'failed', error: `gave up after ${job.attempts} attempts; last: ${reason}`, finished_at: new Date(), lease_owner: null, lease_expires_at: null, updated_at: new Date() }
            : { state: 'queued', error: reason, worker_id: null, worker_training_id: null, lease_owner: null, lease_expires_at: null, attempts: counted ? job.attempts : job.attempts - 1, updated_at: new Date() },
        )
        .returning('id')
        .executeTakeFirst()
      if (!row) return null
      await recordEvent(trx, 'training_jobs', job.id, {
        type: 'state',
        state: giveUp ? 'failed' : 'queued',
        message: giveUp ? `gave up after ${job.attempts} attempts; last: ${reason}` : `${reason}; ${counted ? `attempt ${job.attempts} counted` : 'the attempt never started and is not counted'}`,
        data: { worker_id: job.worker_id, worker_training_id: job.worker_training_id, counted },
      })
      return giveUp ? 'failed' : 'queued'
    })
  }

  /**
   * Jobs that another dispatcher held and stopped renewing (it stopped, crashed or released them):
   * this one takes them over, giving their workers a fresh lease to answer.
   */
  async takeOver(): Promise<JobRow[]> {
    return this.db.transaction().execute(async (trx) => {
      const stale = await trx
        .selectFrom('training_jobs')
        .select(['id', 'lease_owner'])
        .where('state', 'in', ACTIVE_STATES)
        .where((eb) => eb.or([eb('lease_owner', 'is', null), eb.and([eb('lease_owner', '!=', this.owner), eb('lease_expires_at', '<', new Date())])]))
        .forUpdate()
        .skipLocked()
        .execute()
      if (stale.length === 0) return []
      const rows = await trx
        .updateTable('training_jobs')
        .set({ lease_owner: this.owner, lease_expires_at: this.lease(), updated_at: new Date() })
        .where('id', 'in', stale.map((s) => s.id))
        .returningAll()
        .execute()
      await trx
        .insertInto('training_job_events')
        .values(stale.map((s) => ({ job_id: s.id, type: 'takeover', state: null, message: `dispatcher ${this.owner} took over from ${s.lease_owner ?? 'nobody'}`, data: null })))
        .execute()
      return rows
    })
  }

  /** The jobs this dispatcher holds. */
  mine(): Promise<JobRow[]> {
    return this.db.selectFrom('training_jobs').selectAll().where('lease_owner', '=', this.owner).where('state', 'in', ACTIVE_STATES).execute()
  }

  /** On stop: the trainings go on on their workers; their leases end now so a restart (or a peer) takes them over at once. */
  async release(): Promise<void> {
    await this.db.updateTable('training_jobs').set({ lease_expires_at: new Date(Date.now() - 1), lease_owner: null, updated_at: new Date() }).where('lease_owner', '=', this.owner).where('state', 'in', ACTIVE_STATES).execute()
  }
}
