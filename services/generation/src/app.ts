import './db-columns.ts'
import { createService, type App, type BuildOptions, type Sys2ftConfig } from '@sys2ft/service-kit'
import { newsSetsRoutes } from './routes/news-sets.ts'
import { generationRunsRoutes } from './routes/generation-runs.ts'
import { generationRunnerPlugin, type RunnerOptions } from './plugins/generation-runner.ts'

export const definition = {
  name: 'generation' as const,
  title: 'sys2ft generation service',
  description: 'News sets (the New News dataset, the control set, your own) and Sys2-FT self-play data generation: paraphrase, implication and Self-QA.',
  version: '0.1.0',
}

/** The generation service; tests drive it with `inject`. */
export function buildApp(config: Sys2ftConfig, opts: BuildOptions & RunnerOptions = {}): Promise<App> {
  return createService({ ...definition, plugins: [generationRunnerPlugin(opts)], routes: [newsSetsRoutes, generationRunsRoutes] }, config, opts)
}
