import type { FastifyInstance } from 'fastify'
import { JobRunner, instanceOwner } from '@sys2ft/service-kit'
import { runExperiment } from '../experiments/run-experiment.ts'

declare module 'fastify' {
  interface FastifyInstance {
    experimentRunner: JobRunner<'experiments'>
  }
}

export interface ExperimentRunnerOptions {
  jobOwner?: string
  pollMs?: number
  /** How often a running experiment looks at its cells. */
  experimentPollMs?: number
}

/**
 * Coordinates experiments in the background. Like the eval runner it starts when the service listens
 * (experiments call the services over HTTP, this one included) and stops before the app closes.
 */
export function experimentRunnerPlugin(opts: ExperimentRunnerOptions) {
  return async function experimentRunner(app: FastifyInstance): Promise<void> {
    const runner = new JobRunner({
      db: app.db,
      table: 'experiments',
      owner: `${opts.jobOwner ?? instanceOwner('evaluation', app.config.ports.evaluation)}/experiments`,
      pollMs: opts.pollMs,
      log: app.log,
      run: (exp, ctx) => runExperiment({ db: app.db, config: app.config, pollMs: opts.experimentPollMs }, exp, ctx),
    })
    app.decorate('experimentRunner', runner)
    app.addHook('onListen', () => runner.start())
    app.addHook('preClose', () => runner.stop())
  }
}
