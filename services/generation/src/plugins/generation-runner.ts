import type { FastifyInstance } from 'fastify'
import { JobRunner, instanceOwner } from '@sys2ft/service-kit'
import { WorkerPool, type WorkerClientOptions } from '@sys2ft/worker-client'
import { runGeneration } from '../domain/run-generation.ts'

declare module 'fastify' {
  interface FastifyInstance {
    generationRunner: JobRunner<'generation_runs'>
    /** The workers runs send their chunks to: SYS2FT_WORKER_URL alone, or the Ray launcher's actors. */
    workers: WorkerPool
  }
}

export interface RunnerOptions {
  /** Lease owner name; default `generation@<host>:<port>`, stable across restarts. */
  jobOwner?: string
  leaseMs?: number
  pollMs?: number
  /** First wait before a retry (doubled per counted attempt, capped at a minute; jittered). */
  retryDelayMs?: number
  /** How long the worker may stay unreachable before the waits count attempts (default 10 min). */
  unavailableGraceMs?: number
  /** Hang detection of each worker call (the client's defaults when absent). */
  workerHang?: WorkerClientOptions['hang']
  /** How often a long worker call leaves a `waiting` event (default a minute). */
  noticeMs?: number
}

/**
 * The worker pool and the background runner of generation runs. The runner starts when the service
 * listens (after `runService` migrated; building the app for tests or the OpenAPI export touches no
 * database) and stops, requeueing what it ran, before the app closes.
 */
export function generationRunnerPlugin(opts: RunnerOptions) {
  return async function generationRunner(app: FastifyInstance): Promise<void> {
    const client = { hang: opts.workerHang }
    const workers = app.config.ray ? WorkerPool.ray(app.config.ray.poolUrl, app.config.workerApiKey, client) : WorkerPool.single(app.config.urls.worker, app.config.workerApiKey, client)
    app.decorate('workers', workers)
    const runner = new JobRunner({
      db: app.db,
      table: 'generation_runs',
      owner: opts.jobOwner ?? instanceOwner('generation', app.config.ports.generation),
      leaseMs: opts.leaseMs,
      pollMs: opts.pollMs,
      retryBaseMs: opts.retryDelayMs,
      unavailableGraceMs: opts.unavailableGraceMs,
      log: app.log,
      run: (run, ctx) => runGeneration({ db: app.db, workers, noticeMs: opts.noticeMs }, run, ctx),
    })
    app.decorate('generationRunner', runner)
    app.addHook('onListen', () => runner.start())
    app.addHook('preClose', () => runner.stop())
  }
}
