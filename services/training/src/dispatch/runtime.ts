import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import type { TrainingSettings } from '../config.ts'
import { Dispatcher } from './dispatcher.ts'
import type { Log } from './log.ts'
import { WorkerPool } from './worker-pool.ts'

/** The service's background work: the workers' health checks and the dispatcher. */
export class TrainingRuntime {
  readonly pool: WorkerPool
  readonly dispatcher: Dispatcher
  private starting: Promise<void> | null = null

  constructor(db: Kysely<Database>, readonly settings: TrainingSettings, owner: string, log: Log) {
    this.pool = new WorkerPool(db, settings, log, () => this.dispatcher.wake())
    this.dispatcher = new Dispatcher({ db, pool: this.pool, owner, pollMs: settings.pollMs, leaseMs: settings.leaseMs, log })
  }

  /** Registers the configured workers, checks them all once, then starts dispatching. */
  start(): Promise<void> {
    this.starting ??= (async () => {
      await this.pool.start()
      this.dispatcher.start()
    })()
    return this.starting
  }

  async stop(): Promise<void> {
    if (!this.starting) return
    await this.starting.catch(() => {})
    await this.dispatcher.stop()
    await this.pool.stop()
  }

  /** A job was created: dispatch it now rather than at the next poll. */
  wake(): void {
    this.dispatcher.wake()
  }
}
