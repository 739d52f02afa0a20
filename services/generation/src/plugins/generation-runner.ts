import type { FastifyInstance } from 'fastify'
import { JobRunner, instanceOwner } from '@sys2ft/service-kit'
import { WorkerClient, type WorkerClientOptions } from '@sys2ft/worker-client'
import { runGeneration } from '../domain/run-generation.ts'

declare module 'fastify' {
  interface FastifyInstance {
    generationRunner: JobRunner<'generation_runs'>
    worker: WorkerClient
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
 * The worker client and the background runner of generation runs. The runner starts when the service
 * listens (after `runService` migrated; building the app for tests or the OpenAPI export touches no
 * database) and stops, requeueing what it ran, before the app closes.
 */
export function generationRunnerPlugin(opts: RunnerOptions) {
  return async function generationRunner(app: FastifyInstance): Promise<void> {
    const worker = new WorkerClient({ baseURL: app.config.urls.worker, apiKey: app.config.workerApiKey, hang: opts.workerHang })
    app.decorate('worker', worker)
    const runner = new JobRunner({
      db: app.db,
      table: 'generation_runs',
      owner: opts.jobOwner ?? instanceOwner('generation', app.config.ports.generation),
      leaseMs: opts.leaseMs,
      pollMs: opts.pollMs,
      retryBaseMs: opts.retryDelayMs,
      unavailableGraceMs: opts.unavailableGraceMs,
      log: app.log,
      run: (run, ctx) => runGeneration({ db: app.db, worker, noticeMs: opts.noticeMs }, run, ctx),
    })
    app.decorate('generationRunner', runner)
    app.addHook('onListen', () => runner.start())
    app.addHook('preClose', () => runner.stop())
  }
}
