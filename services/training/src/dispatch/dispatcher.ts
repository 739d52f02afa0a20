import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { PollLoop, ProblemError } from '@sys2ft/service-kit'
import { WorkerError, type TrainingStatus } from '@sys2ft/worker-client'
import type { JobRow } from '../domain/training-jobs.ts'
import { resolveData } from '../domain/training-data.ts'
import type { WorkerRow } from '../domain/workers.ts'
import type { Log } from './log.ts'
import { Transitions } from './transitions.ts'
import type { WorkerPool } from './worker-pool.ts'

export interface DispatcherOptions {
  db: Kysely<Database>
  pool: WorkerPool
  /** Names this dispatcher in `lease_owner`; stable across restarts of one service instance. */
  owner: string
  pollMs: number
  leaseMs: number
  log: Log
}

/** The shortest wait between two polls of a training that is about to end. */
const MIN_POLL_MS = 50

/**
 * Assigns queued training jobs to free workers and follows them to the end:
 *
 *   queued → dispatched (claimed with a worker, one transaction) → running (the worker accepted the
 *   training) → succeeded (adapter registered) | failed | cancelled
 *
 * Each tick it polls the worker of every job it holds (the heartbeat that renews the job's lease,
 * copies progress and loss points), takes over jobs whose dispatcher stopped renewing them, then
 * claims queued jobs while free workers remain. A training lost by its worker (the worker restarted,
 * or stayed silent past the lease) goes back to the queue and counts an attempt. The worker's
 * training id is `<job>-a<attempt>`, so every call that starts it can be repeated safely; reconciling
 * after a restart is the same poll: the worker still runs it (keep polling), finished it (record the
 * result) or lost it (requeue).
 */
export class Dispatcher {
  readonly transitions: Transitions
  private readonly loop: PollLoop
  /** The next tick's delay: the poll interval, or sooner when a training is about to end. */
  private nextMs = 0
  /** Jobs whose start call is in flight: the poll leaves them alone. */
  private readonly launching = new Map<string, Promise<void>>()

  constructor(private readonly opts: DispatcherOptions) {
    this.transitions = new Transitions(opts.db, opts.owner, opts.leaseMs)
    this.loop = new PollLoop(() => this.tick(), () => this.nextMs)
  }

  private get stopped(): boolean {
    return this.loop.stopped
  }

  start(): void {
    this.loop.start()
  }

  /** Runs a tick now (a job was created, a worker came up, a job ended). */
  wake(): void {
    this.loop.wake()
  }

  /** Stops claiming and polling; the trainings go on on their workers and a restart reconciles them. */
  async stop(): Promise<void> {
    await this.loop.stop()
    await Promise.allSettled(this.launching.values())
    await this.transitions.release().catch((err) => this.opts.log.warn({ err }, 'could not release the leases'))
  }

  private async tick(): Promise<void> {
    this.nextMs = this.opts.pollMs
    try {
      await this.opts.pool.recheckBusy()
      await this.transitions.takeOver()
      const jobs = (await this.transitions.mine()).filter((j) => !this.launching.has(j.id))
      if (jobs.length) {
        const workers = await this.workers(jobs.map((j) => j.worker_id).filter((id): id is string => id !== null))
        await Promise.all(jobs.map((j) => this.watch(j, j.worker_id ? workers.get(j.worker_id) : undefined).catch((err) => this.opts.log.error({ err, job: j.id }, 'polling a training failed'))))
      }
      for (let lostRaces = 0; !this.stopped && lostRaces < 10; ) {
        const claimed = await this.transitions.claim().catch((err) => {
          // a lost race on the one-job-per-worker index: another dispatcher took the worker first
          if ((err as { code?: string }).code === '23505') return 'retry' as const
          throw err
        })
        if (claimed === null) break
        if (claimed === 'retry') {
          lostRaces++
          continue
        }
        this.launch(claimed.job, claimed.worker)
      }
    } catch (err) {
      this.opts.log.warn({ err }, 'dispatcher tick failed')
    }
  }

  private async workers(ids: string[]): Promise<Map<string, WorkerRow>> {
    if (ids.length === 0) return new Map()
    const rows = await this.opts.db.selectFrom('workers').selectAll().where('id', 'in', ids).execute()
    return new Map(rows.map((w) => [w.id, w]))
  }

  /** Starts a claimed job on its worker (in the background: the tick goes on). */
  private launch(job: JobRow, worker: WorkerRow): void {
    const done = this.startTraining(job, worker)
      .catch((err) => this.opts.log.error({ err, job: job.id }, 'starting a training failed'))
      .finally(() => {
        this.launching.delete(job.id)
        this.wake()
      })
    this.launching.set(job.id, done)
  }

  private async startTraining(job: JobRow, worker: WorkerRow): Promise<void> {
    const t = this.transitions
    const data = job.data
    let examples
    try {
      const resolved = await resolveData(this.opts.db, data.sources, job.seed, job.settings.objective ?? 'sft')
      if (resolved.sha256 !== job.data_sha256) return void (await t.fail(job, `the training data changed since the job was created (sha256 ${resolved.sha256} ≠ ${job.data_sha256})`))
      examples = resolved.examples
    } catch (err) {
      if (err instanceof ProblemError) return void (await t.fail(job, `the training data is no longer usable: ${err.message}`))
      throw err
    }
    const hp = job.settings
    let status: TrainingStatus
    try {
      status = await this.opts.pool.client(worker).startTraining({
        training_id: job.worker_training_id!,
        base_model: job.base_model,
        // the adapter is named after the job: only this job's attempts ever write it, so replacing a
        // leftover of an earlier attempt (one that never reported back) is safe
        adapter_name: job.id,
        overwrite: true,
        // fencing: if this dispatcher stops asking (it requeued the job to another worker while this
        // one was unreachable), the worker cancels this attempt itself the moment it runs again
        lease_s: this.opts.leaseMs / 1000,
        examples,
        seed: job.seed,
        loss_on: hp.loss_on,
        objective: hp.objective ?? 'sft',
        lora: hp.lora,
        learning_rate: hp.learning_rate,
        lr_scheduler: hp.lr_scheduler,
        warmup_ratio: hp.warmup_ratio,
        epochs: hp.epochs,
        batch_size: hp.batch_size,
        gradient_accumulation_steps: hp.gradient_accumulation_steps,
        max_seq_len: hp.max_seq_len,
        gradient_checkpointing: hp.gradient_checkpointing ?? null,
        token_budget: hp.token_budget ?? null,
      })
    } catch (err) {
      if (!(err instanceof WorkerError)) throw err
      if (err.code === 'worker_timeout') return // it may have started: the next poll finds out
      if (err.unavailable) {
        await this.opts.pool.markDown(worker, err.message)
        await t.requeue(job, `worker ${worker.name} could not be reached to start the training (${err.message})`, false)
      } else if (err.status === 409 || err.code === 'unknown_model') {
        // busy with a training we did not give it, or serving another model now: look again, try elsewhere
        await this.opts.pool.recheck(worker.id)
        await t.requeue(job, `worker ${worker.name} refused the training (${err.message})`, false)
      } else {
        await t.fail(job, `worker ${worker.name} rejected the training: ${err.message}`)
      }
      return
    }
    await t.markRunning(job, worker, status)
  }

  /** One heartbeat of a job this dispatcher holds: ask its worker, then record what it said. */
  private async watch(job: JobRow, worker: WorkerRow | undefined): Promise<void> {
    const t = this.transitions
    if (!worker || !job.worker_training_id) return void (await t.requeue(job, 'its worker is no longer registered', true))
    const client = this.opts.pool.client(worker)
    let status: TrainingStatus
    try {
      status = await client.training(job.worker_training_id)
    } catch (err) {
      if (!(err instanceof WorkerError)) throw err
      if (err.status === 404) return this.lost(job, worker)
      if (err.unavailable || err.status === null) await this.opts.pool.markDown(worker, err.message)
      // Nothing listens there: the worker process is gone, and its training died with it (a training
      // subprocess dies with its worker), so waiting out the lease would only delay the job. A worker
      // that is merely slow or partitioned times out instead, and keeps its lease.
      if (err.refused) {
        await t.requeue(job, `worker ${worker.name} is gone (nothing listens at ${worker.url}); its training ended with it`, true)
        return this.wake()
      }
      const silentMs = Date.now() - (job.lease_expires_at?.getTime() ?? 0)
      if (silentMs > 0) await t.requeue(job, `worker ${worker.name} did not answer for the whole lease (${err.message})`, true)
      return
    }
    if (job.cancel_requested && (status.state === 'queued' || status.state === 'running')) {
      await client.cancelTraining(status.id).catch((err) => this.opts.log.warn({ err, job: job.id }, 'cancelling on the worker failed; trying again next tick'))
    }
    switch (status.state) {
      case 'queued':
      case 'running': {
        await t.progress(job, worker, status)
        // near its end, look again when it should be done rather than a whole poll later
        const left = status.step > 0 && status.total_steps > 0 ? (status.elapsed_s / status.step) * (status.total_steps - status.step) * 1000 : Infinity
        this.nextMs = Math.min(this.nextMs, Math.max(MIN_POLL_MS, left))
        return
      }
      case 'succeeded':
        if (!status.adapter) return void (await t.fail(job, `worker ${worker.name} reported success without an adapter`))
        if (await t.succeed(job, worker, status.adapter, status)) this.wake()
        return
      case 'failed':
        await t.progress(job, worker, status)
        await t.fail(job, `the training failed on worker ${worker.name}: ${status.error ?? 'no reason given'}`)
        return
      case 'cancelled':
        if (job.cancel_requested) await t.cancelled(job, `cancelled; the worker stopped training ${status.id} at step ${status.step}`)
        // not asked for: the worker cancels its trainings when it shuts down
        else await t.requeue(job, `worker ${worker.name} stopped training ${status.id} (it is shutting down)`, true)
        this.wake()
    }
  }

  /**
   * The worker does not know the training. Not started yet (a dispatched job whose start call never
   * arrived): start it now, with the same id. Otherwise the worker restarted: if it had finished and
   * saved the adapter, record that; else requeue.
   */
  private async lost(job: JobRow, worker: WorkerRow): Promise<void> {
    const t = this.transitions
    if (job.cancel_requested) return void (await t.cancelled(job, 'cancelled; the worker no longer had the training'))
    if (job.state === 'dispatched') return this.launch(job, worker)
    const manifest = await this.opts.pool.client(worker).adapter(job.id).catch(() => null)
    if (manifest && manifest.training_id === job.worker_training_id) {
      if (await t.succeed(job, worker, manifest, null)) this.wake()
      return
    }
    await t.requeue(job, `worker ${worker.name} no longer has training ${job.worker_training_id} (it restarted)`, true)
    this.wake()
  }
}
