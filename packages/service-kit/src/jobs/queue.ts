import { hostname } from 'node:os'
import type { Kysely, Selectable } from 'kysely'
import type { Database } from '@sys2ft/db'
import { recordEvent, type JobTable } from './events.ts'
import { ProblemError } from '../problem.ts'
import { PollLoop } from './poll-loop.ts'

type Loose = Kysely<Record<string, Record<string, any>>>

/** A failure worth another attempt (the worker was unreachable, say): the job goes back to the queue. */
export class RetryableError extends Error {
  override name = 'RetryableError'
}

export interface JobContext {
  /** Aborted when the job is cancelled, its lease is lost, or the service stops. */
  signal: AbortSignal
  /** Why `signal` aborted. */
  reason(): 'cancelled' | 'lease_lost' | 'shutdown' | null
  /** Appends an event to the job's events table. */
  event(type: string, message: string, data?: unknown): Promise<void>
  /** Updates columns of the job row (progress counters and the like), only while this runner holds it. */
  update(values: Record<string, unknown>): Promise<void>
  attempt: number
  /** This runner's lease owner: a write guarded by `lease_owner = owner` cannot land after the lease is lost. */
  owner: string
}

export interface JobRunnerOptions<T extends JobTable> {
  db: Kysely<Database>
  table: T
  /** Runs one claimed job; resolving means success. Throw RetryableError to requeue. */
  run: (job: Selectable<Database[T]>, ctx: JobContext) => Promise<void>
  /** Identifies this runner in `lease_owner`; stable across restarts of the same service instance. */
  owner: string
  leaseMs?: number
  pollMs?: number
  concurrency?: number
  log?: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void; error: (o: object, m: string) => void }
}

export const instanceOwner = (service: string, port: number | string) => `${service}@${hostname()}:${port}`

/**
 * A Postgres work queue over one job table: claims with `FOR UPDATE SKIP LOCKED` (two runners never
 * take one job), holds a lease it renews while the job runs, and records every state change in the
 * job's events table. A job whose lease expired (its runner died) is claimed again and counts an
 * attempt; past `max_attempts` it fails with the reason. A stopping runner aborts its jobs and puts
 * them back in the queue, so a restart resumes them and nothing runs twice at once.
 */
export class JobRunner<T extends JobTable> {
  private readonly db: Loose
  private readonly tableName: string
  private readonly leaseMs: number
  private readonly pollMs: number
  private readonly concurrency: number
  private readonly active = new Map<string, { controller: AbortController; reason: 'cancelled' | 'lease_lost' | 'shutdown' | null; done: Promise<void> }>()
  private readonly loop: PollLoop

  constructor(private readonly opts: JobRunnerOptions<T>) {
    this.db = opts.db as unknown as Loose
    this.tableName = opts.table
    this.leaseMs = opts.leaseMs ?? 30_000
    this.pollMs = opts.pollMs ?? 1_000
    this.concurrency = opts.concurrency ?? 1
    this.loop = new PollLoop(() => this.poll(), () => this.pollMs)
  }

  private get stopped(): boolean {
    return this.loop.stopped
  }

  /** Starts polling. Jobs this owner held when it last stopped (crash, restart) are taken back first. */
  async start(): Promise<void> {
    await this.db
      .updateTable(this.tableName)
      .set({ state: 'queued', lease_owner: null, lease_expires_at: null, updated_at: new Date() })
      .where('lease_owner', '=', this.opts.owner)
      .where('state', '=', 'running')
      .execute()
    this.loop.start()
  }

  /** Wakes the poller now (after a job was created). */
  wake(): void {
    this.loop.wake()
  }

  /** Stops claiming, aborts running jobs and requeues them (their work so far is kept). */
  async stop(): Promise<void> {
    await this.loop.stop()
    for (const a of this.active.values()) {
      a.reason ??= 'shutdown'
      a.controller.abort()
    }
    await Promise.allSettled([...this.active.values()].map((a) => a.done))
  }

  private async poll(): Promise<void> {
    try {
      await this.renewLeases()
      while (!this.stopped && this.active.size < this.concurrency) {
        const job = await this.claim()
        if (!job) break
        this.launch(job)
      }
    } catch (err) {
      this.opts.log?.warn({ err }, 'job poll failed')
    }
  }

  private async claim(): Promise<Selectable<Database[T]> | null> {
    const table = this.tableName
    const next = this.db
      .selectFrom(table)
      .select('id')
      .where((w) => w.or([w('state', '=', 'queued'), w.and([w('state', '=', 'running'), w('lease_expires_at', '<', new Date())])]))
      .orderBy('created_at')
      .limit(1)
      .forUpdate()
      .skipLocked()
    const job = await this.db
      .updateTable(table)
      .set((eb) => ({
        state: 'running',
        lease_owner: this.opts.owner,
        lease_expires_at: new Date(Date.now() + this.leaseMs),
        attempts: eb('attempts', '+', 1),
        started_at: eb.fn.coalesce('started_at', eb.val(new Date())),
        updated_at: new Date(),
      }))
      .where('id', '=', next)
      .returningAll()
      .executeTakeFirst()
    if (!job) return null
    if (job.cancel_requested) {
      await this.finish(job.id, 'cancelled', null, 'cancelled before it started')
      return this.claim()
    }
    if (job.attempts > job.max_attempts) {
      await this.finish(job.id, 'failed', `gave up after ${job.max_attempts} attempts${job.error ? `; last error: ${job.error}` : ''}`, 'too many attempts')
      return this.claim()
    }
    await recordEvent(this.opts.db, this.opts.table, job.id, { type: 'state', state: 'running', message: `attempt ${job.attempts} by ${this.opts.owner}` })
    return job as Selectable<Database[T]>
  }

  private launch(job: Selectable<Database[T]>): void {
    const id = (job as { id: string }).id
    const controller = new AbortController()
    const entry = { controller, reason: null as 'cancelled' | 'lease_lost' | 'shutdown' | null, done: Promise.resolve() }
    const ctx: JobContext = {
      signal: controller.signal,
      reason: () => entry.reason,
      attempt: (job as { attempts: number }).attempts,
      owner: this.opts.owner,
      event: (type, message, data) => recordEvent(this.opts.db, this.opts.table, id, { type, message, data }),
      update: async (values) => {
        await this.db.updateTable(this.tableName).set({ ...values, updated_at: new Date() }).where('id', '=', id).where('lease_owner', '=', this.opts.owner).execute()
      },
    }
    entry.done = (async () => {
      try {
        await this.opts.run(job, ctx)
        if (entry.reason === 'cancelled') await this.finish(id, 'cancelled', null, 'cancelled')
        else if (entry.reason === 'shutdown') await this.requeue(id, 'the service stopped; the job resumes on restart')
        else if (entry.reason !== 'lease_lost') await this.finish(id, 'succeeded', null, 'done')
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err)
        if (entry.reason === 'cancelled') await this.finish(id, 'cancelled', null, 'cancelled')
        else if (entry.reason === 'shutdown') await this.requeue(id, 'the service stopped; the job resumes on restart')
        else if (entry.reason === 'lease_lost') this.opts.log?.warn({ job: id }, 'lease lost; another runner owns the job now')
        else if (err instanceof RetryableError && ctx.attempt < (job as { max_attempts: number }).max_attempts) await this.requeue(id, message, message)
        else if (err instanceof RetryableError) await this.finish(id, 'failed', `gave up after ${ctx.attempt} attempts: ${message}`, 'too many attempts')
        else {
          this.opts.log?.error({ err, job: id }, 'job failed')
          await this.finish(id, 'failed', message, message)
        }
      } finally {
        this.active.delete(id)
        this.loop.wake()
      }
    })()
    this.active.set(id, entry)
  }

  /** Renews the leases of running jobs; a job cancelled meanwhile, or no longer ours, is aborted. */
  private async renewLeases(): Promise<void> {
    if (this.active.size === 0) return
    const ids = [...this.active.keys()]
    const rows = await this.db
      .updateTable(this.tableName)
      .set({ lease_expires_at: new Date(Date.now() + this.leaseMs) })
      .where('id', 'in', ids)
      .where('lease_owner', '=', this.opts.owner)
      .where('state', '=', 'running')
      .returning(['id', 'cancel_requested'])
      .execute()
    const held = new Map(rows.map((r) => [r.id as string, r.cancel_requested as boolean]))
    for (const id of ids) {
      const a = this.active.get(id)
      if (!a || a.reason) continue
      if (!held.has(id)) a.reason = 'lease_lost'
      else if (held.get(id)) a.reason = 'cancelled'
      else continue
      a.controller.abort()
    }
  }

  private async finish(id: string, state: 'succeeded' | 'failed' | 'cancelled', error: string | null, message: string): Promise<void> {
    await this.db
      .updateTable(this.tableName)
      .set({ state, error, finished_at: new Date(), lease_owner: null, lease_expires_at: null, updated_at: new Date() })
      .where('id', '=', id)
      .execute()
    await recordEvent(this.opts.db, this.opts.table, id, { type: 'state', state, message })
  }

  private async requeue(id: string, message: string, error: string | null = null): Promise<void> {
    await this.db
      .updateTable(this.tableName)
      .set({ state: 'queued', lease_owner: null, lease_expires_at: null, updated_at: new Date(), ...(error ? { error } : {}) })
      .where('id', '=', id)
      .where('lease_owner', '=', this.opts.owner)
      .execute()
    await recordEvent(this.opts.db, this.opts.table, id, { type: 'state', state: 'queued', message })
  }
}

/**
 * Cancels a job: a queued one at once; a running one is flagged and its runner stops it at its next
 * lease renewal. Terminal jobs are left as they are. Returns the state after the request.
 */
export async function requestCancel(db: Kysely<Database>, table: JobTable, id: string): Promise<string | null> {
  return db.transaction().execute(async (trx) => {
    const t = trx as unknown as Loose
    const row = await t.selectFrom(table).select(['state']).where('id', '=', id).forUpdate().executeTakeFirst()
    if (!row) return null
    if (row.state === 'queued') {
      await t.updateTable(table).set({ state: 'cancelled', cancel_requested: true, finished_at: new Date(), updated_at: new Date() }).where('id', '=', id).execute()
      await recordEvent(trx, table, id, { type: 'state', state: 'cancelled', message: 'cancelled while queued' })
      return 'cancelled'
    }
    if (row.state === 'running' || row.state === 'dispatched') {
      await t.updateTable(table).set({ cancel_requested: true, updated_at: new Date() }).where('id', '=', id).execute()
      await recordEvent(trx, table, id, { type: 'cancel_requested', message: 'cancel requested' })
    }
    return String(row.state)
  })
}

/**
 * Puts a failed or cancelled job back in the queue with fresh attempts; its runner continues where it
 * stopped (work already recorded is kept). Any other state is a 409. `also` runs in the same
 * transaction (an experiment resets its failed cells there).
 */
export async function resumeJob(db: Kysely<Database>, table: JobTable, id: string, opts: { what: string; also?: (trx: Kysely<Database>) => Promise<string | void> }): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const t = trx as unknown as Loose
    const row = await t.selectFrom(table).select(['state', 'progress_done', 'progress_total']).where('id', '=', id).forUpdate().executeTakeFirst()
    if (!row) throw new ProblemError(404, 'not_found', `${opts.what} ${id} does not exist`)
    if (row.state !== 'failed' && row.state !== 'cancelled') throw new ProblemError(409, 'conflict', `${opts.what} ${id} is ${row.state}; only a failed or cancelled one can be resumed`)
    const note = (await opts.also?.(trx)) ?? ''
    await t.updateTable(table).set({ state: 'queued', attempts: 0, error: null, cancel_requested: false, finished_at: null, lease_owner: null, lease_expires_at: null, updated_at: new Date() }).where('id', '=', id).execute()
    await recordEvent(trx, table, id, { type: 'state', state: 'queued', message: `resumed after ${row.state}; ${row.progress_done} of ${row.progress_total} done${note ? `; ${note}` : ''}` })
  })
}
