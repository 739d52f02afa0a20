import { Type, type Static } from 'typebox'
import { DomainSchema } from '@sys2ft/dataset'
import { PROTOCOL_OPTIONS, ProtocolSchema, VERIFY_OPTIONS } from '../protocols/index.ts'

const Protocol = ProtocolSchema

export const GenerationOptions = Type.Object(
  {
    samples_per_news: Type.Integer({ minimum: 1, maximum: 4096, default: 16, description: 'Accepted samples wanted per news item (the research used ~1024).' }),
    temperature: Type.Number({ minimum: 0, maximum: 2, default: 1.0 }),
    top_p: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.95 }),
    max_tokens: Type.Integer({ minimum: 16, maximum: 4096, default: 384, description: 'Per completion.' }),
    seed: Type.Integer({ minimum: 0, maximum: 2147483647, default: 0, description: 'Every prompt’s seed derives from it: the same run regenerates the same text on the same engine.' }),
    model: Type.Optional(Type.String({ minLength: 1, description: 'The generating model (self-play: the model to be trained). Default: the worker’s model. A different teacher is allowed and recorded.' })),
    news_in_context: Type.Boolean({ default: false, description: 'Put the news before the generated text inside each training conversation (the contextual-shadowing condition).' }),
    replay: Type.Integer({ minimum: 0, maximum: 64, default: 0, description: 'Copies of the original news text (naive conversation) mixed into the set per news item.' }),
    items_per_call: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'News items batched into one worker call (and one database transaction).' }),
    max_rounds: Type.Integer({ minimum: 1, maximum: 5, default: 2, description: 'Rounds that regenerate what was rejected.' }),
    ...PROTOCOL_OPTIONS,
    ...VERIFY_OPTIONS,
  },
  { additionalProperties: false },
)

export const CreateRunBody = Type.Object(
  {
    news_set_id: Type.String({ minLength: 1 }),
    protocol: Protocol,
    filter: Type.Object(
      {
        domains: Type.Optional(Type.Array(DomainSchema, { minItems: 1, uniqueItems: true })),
        item_keys: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 100_000, uniqueItems: true, description: 'News item ids within the set, e.g. mathematics-001.' })),
      },
      { additionalProperties: false, default: {} },
    ),
    options: Type.Object(GenerationOptions.properties, { additionalProperties: false, default: {} }),
  },
  { additionalProperties: false },
)
export type CreateRunBodyType = Static<typeof CreateRunBody>
/**
 * The body as a client writes it (the experiment coordinator does): what the schema fills in with a
 * default (`filter`, each option) may be left out. Derived from CreateRunBody, so a renamed or retyped
 * field fails to compile in the client. Types only: importing it loads none of this service.
 */
export type CreateRunRequest = Omit<CreateRunBodyType, 'filter' | 'options'> & { filter?: Partial<CreateRunBodyType['filter']>; options?: Partial<CreateRunBodyType['options']> }

export const GenerationRun = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('generation_run'),
    news_set_id: Type.String(),
    protocol: Protocol,
    filter: Type.Record(Type.String(), Type.Unknown()),
    options: GenerationOptions,
    state: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')]),
    progress: Type.Object({ done: Type.Integer(), total: Type.Integer(), unit: Type.String() }),
    samples: Type.Object({ requested: Type.Integer(), accepted: Type.Integer(), rejected: Type.Integer(), rejected_by_reason: Type.Record(Type.String(), Type.Integer()) }),
    tokens: Type.Object({ prompt: Type.Integer(), completion: Type.Integer() }),
    throughput: Type.Object({ worker_calls: Type.Integer(), generation_s: Type.Number(), completion_tokens_per_s: Type.Number(), samples_per_s: Type.Number() }),
    provenance: Type.Record(Type.String(), Type.Unknown(), { description: 'Protocol, prompt template version and text, generating model and engine, all options, seed, dataset version.' }),
    attempts: Type.Integer(),
    error: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'GenerationRun' },
)

export const ListRunsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String()),
    state: Type.Optional(Type.String()),
    news_set_id: Type.Optional(Type.String()),
    protocol: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)

export const Sample = Type.Object({
  news_key: Type.String(),
  index: Type.Integer(),
  accepted: Type.Boolean(),
  reject_reason: Type.Union([Type.String(), Type.Null()]),
  messages: Type.Union([Type.Array(Type.Object({ role: Type.String(), content: Type.String() })), Type.Null()], { description: 'The training conversation (accepted samples).' }),
  raw: Type.Record(Type.String(), Type.Unknown(), { description: 'Raw model output(s), stage, seed, finish reason.' }),
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
})

export const SamplesQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String()),
    accepted: Type.Optional(Type.Boolean()),
    reason: Type.Optional(Type.String({ description: 'Rejected samples with this reason.' })),
  },
  { additionalProperties: false },
)

export const EventsQuery = Type.Object({ after: Type.String({ default: '0', pattern: '^\\d+$' }), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }, { additionalProperties: false })
export const RunEvent = Type.Object({ id: Type.String(), type: Type.String(), state: Type.Union([Type.String(), Type.Null()]), message: Type.String(), data: Type.Unknown(), created_at: Type.String() })
export const RunId = Type.Object({ id: Type.String() })
