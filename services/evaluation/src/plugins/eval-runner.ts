import type { FastifyInstance } from 'fastify'
import { JobRunner, instanceOwner } from '@sys2ft/service-kit'
import { WorkerPool, type ServedModel, type WorkerClientOptions } from '@sys2ft/worker-client'
import { executeRun } from '../domain/execute.ts'

declare module 'fastify' {
  interface FastifyInstance {
    evalRunner: JobRunner<'eval_runs'>
    /** The Ray backend's engine actors (SYS2FT_RAY_ADDRESS); undefined without it. */
    rayPool: WorkerPool | undefined
  }
}

export interface RunnerOptions {
  /** Lease owner; default `evaluation@<host>:<port>`, the same across restarts so a restart takes its runs back at once. */
  jobOwner?: string
  leaseMs?: number
  pollMs?: number
  /** Runs evaluated at once by this process. */
  concurrency?: number
  /** First wait before a retry (doubled per counted attempt, capped at a minute; jittered). */
  retryDelayMs?: number
  /** How long the worker may stay unreachable before the waits count attempts (default 10 min). */
  unavailableGraceMs?: number
  /** Retries, timeouts and hang detection of each worker call. */
  workerClient?: Pick<WorkerClientOptions, 'retries' | 'retryDelayMs' | 'timeouts' | 'hang'>
  /** How often a long worker call leaves a `waiting` event (default a minute). */
  noticeMs?: number
}

/**
 * The background runner of evaluation runs. It starts when the service listens — after `runService`
 * has migrated the database — so building the app (for tests or the OpenAPI export) touches no
 * database; it stops (requeueing what it was running) before the app closes.
 */
export function evalRunnerPlugin(opts: RunnerOptions) {
  return async function evalRunner(app: FastifyInstance): Promise<void> {
    const ray = app.config.ray ? WorkerPool.ray(app.config.ray.poolUrl, app.config.workerApiKey, opts.workerClient) : undefined
    const runner = new JobRunner({
      db: app.db,
      table: 'eval_runs',
      owner: opts.jobOwner ?? instanceOwner('evaluation', app.config.ports.evaluation),
      leaseMs: opts.leaseMs,
      pollMs: opts.pollMs,
      concurrency: opts.concurrency ?? 2,
      retryBaseMs: opts.retryDelayMs,
      unavailableGraceMs: opts.unavailableGraceMs,
      log: app.log,
      run: (run, ctx) => executeRun({ db: app.db, workerUrl: app.config.urls.worker, workerApiKey: app.config.workerApiKey, client: opts.workerClient, ray, noticeMs: opts.noticeMs }, run, ctx),
    })
    app.decorate('evalRunner', runner)
    app.decorate('rayPool', ray)
    app.addHook('onListen', () => runner.start())
    app.addHook('preClose', () => runner.stop())
  }
}

/** The check of a requested model against the worker's (with the Ray backend: an alive actor's; none yet: not checked). */
export function modelCheck(app: FastifyInstance, served: ServedModel): (model: string) => Promise<string | undefined> {
  return async (model) => {
    const url = app.rayPool ? (await app.rayPool.members())[0]?.url : app.config.urls.worker
    return url ? served.check(model, url, app.config.workerApiKey) : undefined
  }
}
