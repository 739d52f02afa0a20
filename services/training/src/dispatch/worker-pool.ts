import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { WorkerClient, WorkerError, fetchRayPool, type WorkerInfo } from '@sys2ft/worker-client'
import type { ConfiguredWorker, TrainingSettings } from '../config.ts'
import { ACTIVE_STATES, registerConfigured, type WorkerRow } from '../domain/workers.ts'
import type { Log } from './log.ts'

/** A training id this service gives a job's n-th dispatch: `<job id>-a<n>`. */
export const OUR_TRAINING_ID = /^job_[0-9a-f]{32}-a\d+$/
export const trainingIdFor = (jobId: string, dispatch: number) => `${jobId}-a${dispatch}`

/**
 * The workers as the dispatcher sees them: one typed client per worker, and a periodic health check
 * (GET /v1/info) that records status, model and engine. A worker found running a training of ours
 * that no job holds any more (an attempt given up while the worker was unreachable) has it cancelled,
 * so no job ever trains twice at once; one running somebody else's training is not free, so it is
 * marked down with the reason and looked at again every dispatcher tick until that training ends.
 */
export class WorkerPool {
  private readonly clients = new Map<string, WorkerClient>()
  /** Workers found running somebody else's training: looked at again every dispatcher tick, not every health round. */
  private readonly busy = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private registered = false
  private stopped = true

  constructor(
    private readonly db: Kysely<Database>,
    private readonly settings: TrainingSettings,
    private readonly log: Log,
    /** Called when a worker is found up (the dispatcher may have work for it). */
    private readonly onUp: () => void,
  ) {}

  /** The client for a worker: no automatic retries (the lease decides how long a silent worker is waited for). */
  client(w: Pick<WorkerRow, 'url' | 'api_key'>): WorkerClient {
    const key = `${w.url}\n${w.api_key ?? ''}`
    let c = this.clients.get(key)
    if (!c) {
      const t = this.settings.workerTimeoutMs
      c = new WorkerClient({ baseURL: w.url, apiKey: w.api_key ?? undefined, retries: 1, retryDelayMs: 100, timeouts: { info: t, training: Math.max(60_000, t) } })
      this.clients.set(key, c)
    }
    return c
  }

  /** Registers the configured workers and checks every worker once; then every `healthMs`. */
  async start(): Promise<void> {
    this.stopped = false
    await this.round()
    this.schedule()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    await this.running
  }

  private schedule() {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      void this.round().finally(() => this.schedule())
    }, this.settings.healthMs)
  }

  private round(): Promise<void> {
    this.running ??= (async () => {
      try {
        if (this.settings.ray) await this.syncRay(this.settings.ray)
        else if (!this.registered) {
          await registerConfigured(this.db, this.settings.workers)
          this.registered = true
        }
        const workers = await this.db.selectFrom('workers').selectAll().execute()
        await Promise.all(workers.map((w) => this.check(w)))
      } catch (err) {
        this.log.warn({ err }, 'worker health round failed')
      } finally {
        this.running = null
      }
    })()
    return this.running
  }

  /**
   * The Ray backend: the launcher's alive engine actors become configured workers (one training at a
   * time each, labels.backend `ray`); an actor no longer alive leaves the table once it holds no job
   * (a job on it is requeued by the dispatcher when its address refuses, with an attempt counted).
   * A launcher that does not answer changes nothing this round.
   */
  private async syncRay(ray: NonNullable<TrainingSettings['ray']>): Promise<void> {
    let actors: ConfiguredWorker[]
    try {
      const view = await fetchRayPool(ray.poolUrl, ray.apiKey, this.settings.workerTimeoutMs)
      actors = view.actors
        .filter((a) => a.state === 'alive' && a.url)
        .map((a) => ({ name: a.name, url: a.url!, ...(ray.apiKey ? { api_key: ray.apiKey } : {}), capacity: 1, labels: { backend: 'ray', ray_actor: a.name, ...(a.node_id ? { ray_node: a.node_id } : {}) } }))
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'ray pool launcher did not answer; workers unchanged')
      return
    }
    await registerConfigured(this.db, [...this.settings.workers, ...actors])
    this.registered = true
  }

  /** Asks one worker for its /v1/info and records what it says (or why it did not answer). */
  async check(w: WorkerRow): Promise<WorkerRow['status']> {
    let info: WorkerInfo
    try {
      info = await this.client(w).info()
    } catch (err) {
      await this.markDown(w, err instanceof Error ? err.message : String(err))
      return 'down'
    }
    let status: WorkerRow['status'] = 'up'
    let lastError: string | null = null
    const t = info.training
    if (t && (t.state === 'queued' || t.state === 'running')) {
      const holder = await this.db.selectFrom('training_jobs').select('id').where('worker_id', '=', w.id).where('worker_training_id', '=', t.id).where('state', 'in', ACTIVE_STATES).executeTakeFirst()
      if (!holder && OUR_TRAINING_ID.test(t.id)) {
        this.log.warn({ worker: w.name, training: t.id }, 'cancelling an orphaned attempt (its job was requeued while the worker was unreachable)')
        await this.client(w).cancelTraining(t.id).catch((err) => this.log.warn({ err, worker: w.name }, 'could not cancel an orphaned training'))
      } else if (!holder) {
        status = 'down'
        lastError = `busy: training ${t.id} was not dispatched by this service`
      }
    }
    if (lastError) this.busy.add(w.id)
    else this.busy.delete(w.id)
    await this.db
      .updateTable('workers')
      .set({ status, model: info.model.id, engine: info.engine, info: JSON.stringify(info), last_seen_at: new Date(), last_error: lastError, updated_at: new Date() })
      .where('id', '=', w.id)
      .execute()
    if (status === 'up' && w.status !== 'up') {
      this.log.info({ worker: w.name, model: info.model.id }, 'worker is up')
      this.onUp()
    }
    return status
  }

  /** Checks again the workers that were busy with a training of somebody else's (free as soon as it ends). */
  async recheckBusy(): Promise<void> {
    if (this.busy.size === 0) return
    const rows = await this.db.selectFrom('workers').selectAll().where('id', 'in', [...this.busy]).execute()
    this.busy.clear()
    await Promise.all(rows.map((w) => this.check(w)))
  }

  /** Records that a worker did not answer; the dispatcher gives it nothing until a check finds it up. */
  async markDown(w: Pick<WorkerRow, 'id' | 'name' | 'status'>, reason: string): Promise<void> {
    if (w.status !== 'down') this.log.warn({ worker: w.name, reason }, 'worker is down')
    await this.db.updateTable('workers').set({ status: 'down', last_error: reason, updated_at: new Date() }).where('id', '=', w.id).execute()
  }

  /** Checks a worker now (after it answered strangely), by id. */
  async recheck(id: string): Promise<void> {
    const w = await this.db.selectFrom('workers').selectAll().where('id', '=', id).executeTakeFirst()
    if (w) await this.check(w)
  }
}

export { WorkerError }
