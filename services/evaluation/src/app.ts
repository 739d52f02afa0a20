import { createService, type App, type BuildOptions, type Sys2ftConfig } from '@sys2ft/service-kit'

export const definition = {
  name: 'evaluation' as const,
  title: 'sys2ft evaluation service',
  description: 'Evaluation of base, in-context and fine-tuned models on the news questions, the FT-ICL gap, forgetting, and reports.',
  version: '0.1.0',
  routes: [],
}

/** The evaluation service; tests drive it with `inject`. */
export function buildApp(config: Sys2ftConfig, opts: BuildOptions = {}): Promise<App> {
  return createService(definition, config, opts)
}
