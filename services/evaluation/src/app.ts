import './db-columns.ts'
import { createService, type App, type BuildOptions, type Sys2ftConfig } from '@sys2ft/service-kit'
import { evalRunnerPlugin, type RunnerOptions } from './plugins/eval-runner.ts'
import { evalRunsRoutes } from './routes/eval-runs.ts'
import { reportsRoutes } from './routes/reports.ts'
import { serviceInfo } from './info.ts'
import { experimentRunnerPlugin, type ExperimentRunnerOptions } from './plugins/experiment-runner.ts'
import { experimentsRoutes } from './routes/experiments.ts'

/** The evaluation service; tests drive it with `inject` (and `listen`, which starts the run queue). */
export function buildApp(config: Sys2ftConfig, opts: BuildOptions & { runner?: RunnerOptions; experiments?: ExperimentRunnerOptions } = {}): Promise<App> {
  return createService(
    {
      name: serviceInfo.name,
      title: 'sys2ft evaluation service',
      description: 'Evaluation of base, in-context and fine-tuned models on the news questions, the FT-ICL gap, forgetting, and reports; and end-to-end experiments (generation → training → evaluation over a grid), which this service coordinates.',
      version: serviceInfo.version,
      plugins: [evalRunnerPlugin(opts.runner ?? {}), experimentRunnerPlugin(opts.experiments ?? {})],
      routes: [evalRunsRoutes, reportsRoutes, experimentsRoutes],
    },
    config,
    opts,
  )
}
