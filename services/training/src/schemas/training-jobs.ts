import { Type, type Static, type TSchema } from 'typebox'

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

export const JOB_STATES = ['queued', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled'] as const
export const JobState = Type.Union([Type.Literal('queued'), Type.Literal('dispatched'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')])

/**
 * One source of training examples. Exactly one of `generation_run_id` (the run's accepted samples'
 * conversations) and `news_set_id` (naive fine-tuning on the news text itself) — checked in code so
 * a wrong source is answered with one clear line per field instead of a union's branch errors.
 */
export const DataSource = Type.Object(
  {
    generation_run_id: Type.Optional(Type.String({ description: 'A succeeded generation run: its accepted samples are the examples.' })),
    news_set_id: Type.Optional(Type.String({ description: 'A news set: one naive-FT conversation per news item (the news text as the answer).' })),
    domains: Type.Optional(Type.Array(Type.String(), { minItems: 1, maxItems: 5, uniqueItems: true, description: 'news_set_id only: keep the items of these domains.' })),
    item_keys: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 100_000, uniqueItems: true, description: 'news_set_id only: keep these items (their ids in the set).' })),
    weight: Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: 1, description: 'Share of the mix relative to the other sources’ weights.' }),
  },
  { additionalProperties: false },
)
export type DataSourceType = Static<typeof DataSource>

// Ranges and defaults are the worker's (infra/worker/sys2ft_worker/protocol.py, TrainingRequest);
// test/hyperparameters.test.ts checks them against openapi/worker.json so the two never drift.
export const Lora = Type.Object(
  {
    r: Type.Integer({ minimum: 1, maximum: 512, default: 16, description: 'LoRA rank.' }),
    alpha: Type.Integer({ minimum: 1, maximum: 8192, default: 32 }),
    dropout: Type.Number({ minimum: 0, maximum: 0.9, default: 0.05 }),
    target_modules: Type.Union([Type.Literal('all-linear'), Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 64 })], { default: 'all-linear' }),
  },
  { additionalProperties: false, default: {} },
)

export const Hyperparameters = Type.Object(
  {
    lora: Lora,
    learning_rate: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1e-4 }),
    lr_scheduler: Type.Union([Type.Literal('linear'), Type.Literal('cosine'), Type.Literal('constant')], { default: 'cosine' }),
    warmup_ratio: Type.Number({ minimum: 0, maximum: 0.5, default: 0.03 }),
    epochs: Type.Integer({ minimum: 1, maximum: 100, default: 1 }),
    batch_size: Type.Integer({ minimum: 1, maximum: 512, default: 4 }),
    gradient_accumulation_steps: Type.Integer({ minimum: 1, maximum: 1024, default: 1 }),
    max_seq_len: Type.Integer({ minimum: 16, maximum: 32768, default: 1024 }),
    loss_on: Type.Union([Type.Literal('assistant'), Type.Literal('all')], { default: 'assistant', description: '`assistant`: learn only the assistant turns.' }),
    objective: Type.Union([Type.Literal('sft'), Type.Literal('distill')], {
      default: 'sft',
      description:
        '`sft`: cross-entropy on the conversations’ text. `distill` (context distillation): the samples that carry a teacher’s targets (a `context_distillation` run’s) are sent with them and trained on forward KL to the teacher’s top-k log-probabilities at each of its tokens, the others on cross-entropy; at least one source must have targets. The k is recorded in the adapter’s manifest (`hyperparameters.distill_k`).',
    }),
    gradient_checkpointing: Type.Union([Type.Boolean(), Type.Null()], { default: null, description: 'Recompute activations in backward (less memory, ~30% more compute); null = the worker decides (on when activations would exceed 1 GiB).' }),
    token_budget: Type.Union([Type.Integer({ minimum: 1, maximum: 1e10 }), Type.Null()], { default: null, description: 'Matched compute: the tokens one epoch trains on; the examples are repeated or subsampled (seeded) to spend it. null: every example once per epoch.' }),
  },
  { additionalProperties: false, default: {}, description: 'LoRA and optimiser settings; every default is recorded on the job.' },
)
export type HyperparametersType = Static<typeof Hyperparameters>

export const CreateJobBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'Unique among jobs that are not failed or cancelled; becomes the adapter’s name. Default: the job id.' })),
    base_model: Type.String({ minLength: 1, description: 'A model a registered worker serves (the worker’s model id, e.g. `qwen2.5-coder-0.5b-instruct`).' }),
    data: Type.Array(DataSource, { minItems: 1, maxItems: 100, description: 'Where the examples come from, and how much of each (see `weight`).' }),
    hyperparameters: Hyperparameters,
    seed: Type.Integer({ minimum: 0, maximum: 4294967295, default: 0, description: 'Seeds the mixing sample and the training (order, LoRA initialisation).' }),
    max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, description: 'Default: SYS2FT_TRAINING_MAX_ATTEMPTS.' })),
  },
  { additionalProperties: false },
)
export type CreateJobBodyType = Static<typeof CreateJobBody>
/**
 * The body as a client writes it (the experiment coordinator does): what the schema fills in with a
 * default (a source's weight, each hyperparameter, the LoRA settings, the seed) may be left out.
 * Derived from CreateJobBody, so a renamed or retyped field fails to compile in the client. Types
 * only: importing it loads none of this service.
 */
export type CreateJobRequest = Omit<CreateJobBodyType, 'data' | 'hyperparameters' | 'seed'> & {
  data: (Omit<DataSourceType, 'weight'> & { weight?: DataSourceType['weight'] })[]
  hyperparameters?: Partial<Omit<HyperparametersType, 'lora'>> & { lora?: Partial<HyperparametersType['lora']> }
  seed?: CreateJobBodyType['seed']
}

export const ResolvedSource = Type.Object({
  source: Type.Integer({ description: 'Index into `sources`.' }),
  kind: Type.Union([Type.Literal('generation_run'), Type.Literal('news_set')]),
  id: Type.String(),
  available: Type.Integer({ description: 'Distinct examples the source has.' }),
  weight: Type.Number(),
  share: Type.Number({ description: 'Its share of the examples trained on.' }),
  count: Type.Integer({ description: 'Examples taken from it (repeats included).' }),
  distill_targets: Type.Optional(Type.Integer({ description: 'objective distill: how many of its distinct examples carry a teacher’s targets (trained on KL; the rest on cross-entropy).' })),
})

export const JobData = Type.Object({
  sources: Type.Array(DataSource),
  resolved: Type.Array(ResolvedSource),
  mixing: Type.String({ description: 'The rule that turned weights into counts.' }),
})

export const Progress = Type.Object({
  done: Type.Integer({ description: 'Optimizer steps done.' }),
  total: Type.Integer({ description: 'Optimizer steps in all (0 until the worker has counted them).' }),
  epoch: Nullable(Type.Number()),
  epochs: Type.Integer(),
  loss: Nullable(Type.Number({ description: 'Latest training loss.' })),
  learning_rate: Nullable(Type.Number()),
  tokens_seen: Type.Integer(),
  tokens_per_s: Nullable(Type.Number()),
  elapsed_s: Nullable(Type.Number({ description: 'Seconds the current attempt has trained on its worker.' })),
  eta_s: Nullable(Type.Number({ description: 'Estimated seconds left, from the pace so far.' })),
})

export const Compute = Type.Object(
  {
    trainable_params: Nullable(Type.Integer()),
    total_params: Nullable(Type.Integer({ description: 'N: every parameter of the base model plus the LoRA weights.' })),
    tokens_trained: Type.Integer({ description: 'D: tokens processed (prompt and answer, padding excluded, all epochs).' }),
    flops: Nullable(Type.Number({ description: 'Estimated training FLOPs, 6·N·D: ~2·N·D for the forward and ~4·N·D for the backward pass per token, N = total parameters. The nominal dense estimate used for scaling-law plots (a LoRA backward skips the frozen weights’ gradients, so it overstates real work by up to ~1/3).' })),
    wall_s: Nullable(Type.Number({ description: 'First dispatch to the end, retries included.' })),
    train_s: Nullable(Type.Number({ description: 'The successful attempt’s time on its worker.' })),
  },
  { description: 'Compute accounting: the x-axis of the scaling-law study.' },
)

export const TrainingJob = Type.Object(
  {
    id: Type.String({ examples: ['job_0193a6f2c1e47c2b9f1d3e5a7b9c0d1e'] }),
    object: Type.Literal('training_job'),
    name: Type.String(),
    state: JobState,
    base_model: Type.String(),
    data: JobData,
    hyperparameters: Hyperparameters,
    seed: Type.Integer(),
    example_count: Type.Integer({ description: 'Examples sent to the worker (after mixing).' }),
    data_sha256: Type.String({ description: 'sha256 of the examples’ canonical JSON (sorted keys, no spaces): equals the adapter manifest’s.' }),
    worker_id: Nullable(Type.String()),
    worker_training_id: Nullable(Type.String({ description: 'The training’s id on its worker: `<job id>-a<n>` for the job’s n-th dispatch (a repeated start call with it is answered with the same training).' })),
    attempts: Type.Integer(),
    max_attempts: Type.Integer(),
    cancel_requested: Type.Boolean(),
    progress: Progress,
    compute: Compute,
    adapter_id: Nullable(Type.String()),
    error: Nullable(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Nullable(Type.String({ format: 'date-time' })),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { $id: 'TrainingJob' },
)
export type TrainingJobOut = Static<typeof TrainingJob>

export const ListJobsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    after: Type.Optional(Type.String({ description: 'Cursor: the next_cursor of the previous page.' })),
    state: Type.Optional(JobState),
    base_model: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    worker_id: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)

export const JobEvent = Type.Object({
  id: Type.String(),
  type: Type.String({ description: '`state` (a transition), `loss` (a point of the loss curve), `cancel_requested`, …' }),
  state: Nullable(Type.String()),
  message: Type.String(),
  data: Type.Unknown(),
  created_at: Type.String({ format: 'date-time' }),
})

export const ListEventsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 2000, default: 500 }),
    after: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'Cursor: the id of the last event seen.' })),
    type: Type.Optional(Type.String({ description: 'Only events of this type (`loss` gives the loss curve).' })),
  },
  { additionalProperties: false },
)

export const JobId = Type.Object({ id: Type.String() })
