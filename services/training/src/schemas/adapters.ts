import { Type, type Static } from 'typebox'
import { Compute, Hyperparameters, Nullable } from './training-jobs.ts'

export const Adapter = Type.Object(
  {
    id: Type.String({ examples: ['ad_0193a6f2c1e47c2b9f1d3e5a7b9c0d1e'] }),
    object: Type.Literal('adapter'),
    name: Type.String({ description: 'The training job’s name.' }),
    job_id: Type.String(),
    base_model: Type.String(),
    location: Type.Object(
      {
        worker_id: Nullable(Type.String()),
        worker_url: Type.String(),
        name: Type.String({ description: 'The adapter’s name on that worker: pass it as `adapter` to its /v1/generate and /v1/score.' }),
      },
      { description: 'Where the adapter lives.' },
    ),
    data_sha256: Type.String(),
    hyperparameters: Hyperparameters,
    final_loss: Nullable(Type.Number()),
    compute: Compute,
    manifest: Type.Record(Type.String(), Type.Unknown(), { description: 'The worker’s manifest.json of the adapter.' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Adapter' },
)
export type AdapterOut = Static<typeof Adapter>

export const ListAdaptersQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String()),
    base_model: Type.Optional(Type.String()),
    job_id: Type.Optional(Type.String()),
    worker_id: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)

export const AdapterId = Type.Object({ id: Type.String() })
