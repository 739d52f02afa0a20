// The shapes of the jsonb columns this service owns (see JsonColumns in @sys2ft/db).
import type { JobData, StoredCompute, StoredProgress } from './domain/training-jobs.ts'
import type { HyperparametersType } from './schemas/training-jobs.ts'

declare module '@sys2ft/db' {
  interface JsonColumns {
    'training_jobs.data': JobData
    'training_jobs.settings': HyperparametersType
    'adapters.hyperparameters': HyperparametersType
    'training_jobs.progress': StoredProgress
    'training_jobs.compute': StoredCompute
    'adapters.compute': StoredCompute
  }
}
