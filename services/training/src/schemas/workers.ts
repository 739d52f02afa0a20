import { Type, type Static } from 'typebox'
import { Nullable } from './training-jobs.ts'

export const WorkerStatus = Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('unknown')])

export const Worker = Type.Object(
  {
    id: Type.String({ examples: ['wk_0193a6f2c1e47c2b9f1d3e5a7b9c0d1e'] }),
    object: Type.Literal('worker'),
    name: Type.String(),
    url: Type.String(),
    has_api_key: Type.Boolean({ description: 'The key itself is never shown.' }),
    capacity: Type.Integer({ description: 'Recorded for scheduling; a worker trains one job at a time (the dispatcher never gives it a second).' }),
    labels: Type.Record(Type.String(), Type.String()),
    source: Type.Union([Type.Literal('config'), Type.Literal('api')], { description: '`config`: from SYS2FT_WORKER_URL / SYS2FT_WORKERS (registered again at every start); `api`: POST /workers.' }),
    status: WorkerStatus,
    model: Nullable(Type.String({ description: 'The model it serves (from its /v1/info).' })),
    engine: Nullable(Type.String()),
    info: Nullable(Type.Unknown({ description: 'Its last /v1/info answer.' })),
    current_job_id: Nullable(Type.String({ description: 'The training job dispatched to it, if any.' })),
    last_seen_at: Nullable(Type.String({ format: 'date-time' })),
    last_error: Nullable(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'Worker' },
)
export type WorkerOut = Static<typeof Worker>

export const CreateWorkerBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'Unique name.' }),
    url: Type.String({ minLength: 1, format: 'uri', pattern: '^https?://', description: 'Base URL of the worker, e.g. http://gpu-1:8000.' }),
    api_key: Type.Optional(Type.String({ minLength: 1, description: 'Bearer key the worker wants.' })),
    capacity: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
    labels: Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 }), { default: {}, description: 'Free-form, e.g. {"gpu": "H200"}.' }),
  },
  { additionalProperties: false },
)
export type CreateWorkerBodyType = Static<typeof CreateWorkerBody>

export const ListWorkersQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String()),
    status: Type.Optional(WorkerStatus),
    model: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)

export const WorkerId = Type.Object({ id: Type.String() })
