import { hostname } from 'node:os'
import type { Kysely, Selectable } from 'kysely'
import { isDatabaseUnavailable, type Database } from '@sys2ft/db'
import { recordEvent, type JobTable } from './events.ts'
import { ProblemError } from '../problem.ts'
import { PollLoop } from './poll-loop.ts'

type Loose = Kysely<Record<string, Record<string, any>>>

/**
 * A failure worth another attempt: the job goes back to the queue after a backoff. `unavailable`: a
 * dependency (the worker) did not answer; that is not the job's fault, so it counts no attempt until
 * it has lasted `unavailableGraceMs`.
 */
export class RetryableError extends Error {
  override name = 'RetryableError'
  constructor(message: string, readonly opts: { unavailable?: boolean } = {}) {
    super(message)
  }
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
  /** Backoff of a counted retry: base × 2^(attempt − 1), capped, with ±25% jitter. */
  retryBaseMs?: number
  retryMaxMs?: number
  /** How long a worker or database may stay unreachable before the waits start counting attempts. */
  unavailableGraceMs?: number
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
  private readonly retry: { baseMs: number; maxMs: number; graceMs: number }

  constructor(private readonly opts: JobRunnerOptions<T>) {
    this.db = opts.db as unknown as Loose
    this.tableName = opts.table
    this.leaseMs = opts.leaseMs ?? 30_000
    this.pollMs = opts.pollMs ?? 1_000
    this.concurrency = opts.concurrency ?? 1
    this.retry = { baseMs: opts.retryBaseMs ?? 2_000, maxMs: opts.retryMaxMs ?? 60_000, graceMs: opts.unavailableGraceMs ?? 10 * 60_000 }
    this.loop = new PollLoop(() => this.poll(), () => this.pollMs)
  }

  private get stopped(): boolean {
    return this.loop.stopped
  }

  /** Starts polling. Jobs this owner held when it last stopped (crash, restart) are taken back first. */
  async start(): Promise<void> {
    const taken = await this.db
      .updateTable(this.tableName)
      .set({ state: 'queued', lease_owner: null, lease_expires_at: null, not_before: null, updated_at: new Date() })
      .where('lease_owner', '=', this.opts.owner)
      .where('state', '=', 'running')
      .returning('id')
      .execute()
    for (const { id } of taken) await recordEvent(this.opts.db, this.opts.table, id as string, { type: 'state', state: 'queued', message: `requeued: ${this.opts.owner} restarted while running it` })
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
      .where((w) => w.or([
        w.and([w('state', '=', 'queued'), w.or([w('not_before', 'is', null), w('not_before', '<=', new Date())])]),
        w.and([w('state', '=', 'running'), w('lease_expires_at', '<', new Date())]),
      ]))
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
        // progress means the dependencies answer again: the unavailability clock restarts
        await this.db.updateTable(this.tableName).set({ ...values, unavailable_since: null, updated_at: new Date() }).where('id', '=', id).where('lease_owner', '=', this.opts.owner).execute()
      },
    }
    const maxAttempts = (job as { max_attempts: number }).max_attempts
    entry.done = (async () => {
      let outcome: Outcome
      try {
        await this.opts.run(job, ctx)
        outcome = entry.reason === 'cancelled' ? { to: 'cancelled' } : entry.reason === 'shutdown' ? { to: 'shutdown' } : entry.reason === 'lease_lost' ? { to: 'lost' } : { to: 'succeeded' }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err)
        if (entry.reason === 'cancelled') outcome = { to: 'cancelled' }
        else if (entry.reason === 'shutdown') outcome = { to: 'shutdown' }
        else if (entry.reason === 'lease_lost') outcome = { to: 'lost' }
        else if (isDatabaseUnavailable(err) || (err instanceof RetryableError && err.opts.unavailable)) outcome = { to: 'unavailable', message }
        else if (err instanceof RetryableError) outcome = ctx.attempt < maxAttempts ? { to: 'retry', message } : { to: 'failed', error: `gave up after ${ctx.attempt} attempts: ${message}`, message: 'too many attempts' }
        else {
          this.opts.log?.error({ err, job: id }, 'job failed')
          outcome = { to: 'failed', error: message, message }
        }
      }
      try {
        // The outcome is written even through a database outage (retried until it lands or the
        // runner stops; a lost write is recovered by the lease expiring). Nothing here may throw.
        await this.durably(() => this.settle(id, ctx.attempt, maxAttempts, outcome))
      } catch (err) {
        this.opts.log?.error({ err, job: id }, 'could not record the job’s outcome; its lease will expire and it will be taken up again')
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

  /** Writes a run's outcome; every write is guarded by this runner's lease, with its event in the same transaction. */
  private async settle(id: string, attempt: number, maxAttempts: number, o: Outcome): Promise<void> {
    switch (o.to) {
      case 'succeeded': return void (await this.finish(id, 'succeeded', null, 'done'))
      case 'cancelled': return void (await this.finish(id, 'cancelled', null, 'cancelled'))
      case 'failed': return void (await this.finish(id, 'failed', o.error, o.message))
      case 'shutdown': return void (await this.requeue(id, { message: 'the service stopped; the job resumes on restart', delayMs: 0 }))
      case 'lost': return this.opts.log?.warn({ job: id }, 'lease lost; another runner owns the job now')
      case 'retry': return void (await this.requeue(id, { message: o.message, error: o.message, delayMs: this.backoff(attempt) }))
      case 'unavailable': return this.waitForDependency(id, attempt, maxAttempts, o.message)
    }
  }

  /**
   * The worker or database did not answer: back to the queue after a backoff that grows with the
   * outage, the attempt given back, until the outage has lasted `unavailableGraceMs`; then it counts.
   */
  private async waitForDependency(id: string, attempt: number, maxAttempts: number, message: string): Promise<void> {
    const row = await this.db.selectFrom(this.tableName).select(['unavailable_since']).where('id', '=', id).executeTakeFirst()
    const since: Date = row?.unavailable_since ?? new Date()
    const lasted = Date.now() - since.getTime()
    if (lasted < this.retry.graceMs) {
      const delayMs = jitter(Math.min(this.retry.maxMs, Math.max(this.retry.baseMs, lasted / 2)))
      await this.requeue(id, { message: `${message}; unreachable for ${seconds(lasted)} s, retrying in ${seconds(delayMs)} s (no attempt counted)`, error: message, delayMs, giveBackAttempt: true, unavailableSince: since })
    } else if (attempt < maxAttempts) {
      await this.requeue(id, { message: `${message}; unreachable for over ${seconds(this.retry.graceMs)} s (attempt ${attempt} counted)`, error: message, delayMs: this.backoff(attempt), unavailableSince: since })
    } else {
      await this.finish(id, 'failed', `gave up after ${attempt} attempts: ${message}`, 'too many attempts')
    }
  }

  private backoff(attempt: number): number {
    return jitter(Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** Math.max(0, attempt - 1)))
  }

  /** Retries a write while the database is unreachable, until it lands or the runner stops. */
  private async durably(write: () => Promise<void>): Promise<void> {
    for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
      try {
        return await write()
      } catch (err) {
        if (!isDatabaseUnavailable(err) || this.stopped) throw err
        this.opts.log?.warn({ err: String(err) }, `database unreachable; retrying the write in ${wait} ms`)
        await new Promise((r) => setTimeout(r, wait))
      }
    }
  }

  /** A terminal state, only while this runner holds the job (a runner that lost its lease cannot end another's). */
  private async finish(id: string, state: 'succeeded' | 'failed' | 'cancelled', error: string | null, message: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable(this.tableName)
        .set({ state, error, finished_at: new Date(), lease_owner: null, lease_expires_at: null, not_before: null, unavailable_since: null, updated_at: new Date() })
        .where('id', '=', id)
        .where('lease_owner', '=', this.opts.owner)
        .where('state', '=', 'running')
        .returning('id')
        .executeTakeFirst()
      if (done) await recordEvent(trx as unknown as Kysely<Database>, this.opts.table, id, { type: 'state', state, message })
      else this.opts.log?.warn({ job: id, state }, 'not finished: the job is no longer this runner’s')
      return !!done
    })
  }

  private async requeue(id: string, o: { message: string; error?: string; delayMs: number; giveBackAttempt?: boolean; unavailableSince?: Date }): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable(this.tableName)
        .set((eb) => ({
          state: 'queued', lease_owner: null, lease_expires_at: null, updated_at: new Date(),
          not_before: o.delayMs > 0 ? new Date(Date.now() + o.delayMs) : null,
          unavailable_since: o.unavailableSince ?? null,
          ...(o.error ? { error: o.error } : {}),
          ...(o.giveBackAttempt ? { attempts: eb('attempts', '-', 1) } : {}),
        }))
        .where('id', '=', id)
        .where('lease_owner', '=', this.opts.owner)
        .where('state', '=', 'running')
        .returning('id')
        .executeTakeFirst()
      if (done) await recordEvent(trx as unknown as Kysely<Database>, this.opts.table, id, { type: 'state', state: 'queued', message: o.message, data: o.delayMs > 0 ? { retry_in_ms: Math.round(o.delayMs) } : undefined })
      return !!done
    })
  }
}

type Outcome =
  | { to: 'succeeded' | 'cancelled' | 'shutdown' | 'lost' }
  | { to: 'failed'; error: string; message: string }
  | { to: 'retry' | 'unavailable'; message: string }

/** What every DELETE of a job resource says about repeated and late cancels (in its OpenAPI description). */
export const CANCEL_RULE = 'Every cancel answers 202 with the resource: asking again, or cancelling a cancelled one, changes nothing; a succeeded or failed one is 409 `conflict`.'

const jitter = (ms: number) => ms * (0.75 + Math.random() * 0.5)
const seconds = (ms: number) => (ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000)))

/**
 * Cancels a job, by one rule in every service (each DELETE answers 202 with the resource after it):
 * a queued job is cancelled at once; a running (or dispatched) one is flagged and its runner stops it
 * at its next lease renewal; asking again, or cancelling a cancelled job, changes nothing and records
 * no second event; a succeeded or failed job is a 409 (there is nothing left to cancel). A missing job
 * is a 404. Returns the state after the request.
 */
export async function requestCancel(db: Kysely<Database>, table: JobTable, id: string, opts: { what: string }): Promise<string> {
  return db.transaction().execute(async (trx) => {
    const t = trx as unknown as Loose
    const row = await t.selectFrom(table).select(['state', 'cancel_requested']).where('id', '=', id).forUpdate().executeTakeFirst()
    if (!row) throw new ProblemError(404, 'not_found', `${opts.what} ${id} does not exist`)
    const state = String(row.state)
    if (state === 'succeeded' || state === 'failed') throw new ProblemError(409, 'conflict', `${opts.what} ${id} already ${state}; only a queued or running one can be cancelled`)
    if (state === 'queued') {
      await t.updateTable(table).set({ state: 'cancelled', cancel_requested: true, finished_at: new Date(), updated_at: new Date() }).where('id', '=', id).execute()
      await recordEvent(trx, table, id, { type: 'state', state: 'cancelled', message: 'cancelled while queued' })
      return 'cancelled'
    }
    if ((state === 'running' || state === 'dispatched') && !row.cancel_requested) {
      await t.updateTable(table).set({ cancel_requested: true, updated_at: new Date() }).where('id', '=', id).execute()
      await recordEvent(trx, table, id, { type: 'cancel_requested', message: 'cancel requested' })
    }
    return state
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
