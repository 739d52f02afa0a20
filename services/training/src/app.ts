import './db-columns.ts'
import { createService, type App, type BuildOptions, type Sys2ftConfig } from '@sys2ft/service-kit'
import { loadTrainingSettings, type TrainingSettings } from './config.ts'
import { trainingPlugin, type RuntimeOptions } from './plugins/training.ts'
import { adaptersRoutes } from './routes/adapters.ts'
import { trainingJobsRoutes } from './routes/training-jobs.ts'
import { workersRoutes } from './routes/workers.ts'

export const definition = {
  name: 'training' as const,
  title: 'sys2ft training service',
  description: 'LoRA training jobs dispatched to a pool of model workers, and the registry of trained adapters.',
  version: '0.1.0',
  routes: [trainingJobsRoutes, workersRoutes, adaptersRoutes],
}

export interface TrainingBuildOptions extends BuildOptions {
  /** Overrides of the settings read from the environment (SYS2FT_WORKERS, SYS2FT_TRAINING_*). */
  training?: Partial<TrainingSettings>
  owner?: RuntimeOptions['owner']
  background?: RuntimeOptions['background']
}

/** The training-dispatch service; tests drive it with `inject`. */
export async function buildApp(config: Sys2ftConfig, opts: TrainingBuildOptions = {}): Promise<App> {
  const settings = { ...loadTrainingSettings(config), ...opts.training }
  const background = opts.background ?? 'listen'
  const app = await createService({ ...definition, plugins: [trainingPlugin({ settings, owner: opts.owner, background })] }, config, opts)
  if (background === 'now') await app.training.start()
  return app
}

export { loadTrainingSettings }
