// The shapes of the jsonb columns this service owns (see JsonColumns in @sys2ft/db).
import type { DistillTarget } from '@sys2ft/worker-client'
import type { RunFilter } from './domain/generation-runs.ts'
import type { GenerationOptions } from './protocols/index.ts'

declare module '@sys2ft/db' {
  interface JsonColumns {
    'generation_runs.options': GenerationOptions
    'generation_runs.filter': RunFilter
    'generation_samples.distill': DistillTarget
  }
}
