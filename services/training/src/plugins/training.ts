import type { FastifyInstance } from 'fastify'
import { instanceOwner } from '@sys2ft/service-kit'
import type { TrainingSettings } from '../config.ts'
import { TrainingRuntime } from '../dispatch/runtime.ts'

declare module 'fastify' {
  interface FastifyInstance {
    training: TrainingRuntime
  }
}

export interface RuntimeOptions {
  settings: TrainingSettings
  /** Dispatcher identity in `lease_owner`; default `training@<host>:<port>` (stable across restarts). */
  owner?: string | undefined
  /**
   * When the health checks and the dispatcher start: `listen` (default: once the server listens, i.e.
   * after `runService` migrated the database), `now` (tests driving the app with `inject`), or `off`.
   */
  background: 'listen' | 'now' | 'off'
}

/** Gives routes the runtime (`app.training`), starts it as configured, and stops it on close. */
export function trainingPlugin(opts: RuntimeOptions) {
  return async function training(app: FastifyInstance): Promise<void> {
    const runtime = new TrainingRuntime(app.db, opts.settings, opts.owner ?? instanceOwner('training', app.config.ports.training), app.log)
    app.decorate('training', runtime)
    if (opts.background === 'listen') {
      app.addHook('onListen', async () => {
        runtime.start().catch((err) => app.log.error({ err }, 'the training dispatcher did not start'))
      })
    }
    app.addHook('onClose', async () => runtime.stop())
  }
}
