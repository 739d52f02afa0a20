import { createService, type App, type BuildOptions, type Sys2ftConfig } from '@sys2ft/service-kit'

export const definition = {
  name: 'training' as const,
  title: 'sys2ft training service',
  description: 'LoRA training jobs dispatched to a pool of model workers, and the registry of trained adapters.',
  version: '0.1.0',
  routes: [],
}

/** The training-dispatch service; tests drive it with `inject`. */
export function buildApp(config: Sys2ftConfig, opts: BuildOptions = {}): Promise<App> {
  return createService(definition, config, opts)
}
