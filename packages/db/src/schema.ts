import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** A timestamptz column: read as a Date, written as a Date or an ISO string, defaulted by the database. */
export type CreatedAt = ColumnType<Date, Date | string | undefined, never>
export type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>
export type Timestamp = ColumnType<Date, Date | string, Date | string>
/** jsonb: kysely passes objects through pg, which serialises them. */
export type Json<T> = ColumnType<T, T | string, T | string>
/** jsonb with a database default: optional on insert. */
export type JsonDefault<T> = ColumnType<T, T | string | undefined, T | string>

/**
 * The shapes of jsonb columns, declared by the service that owns each table, by augmenting this
 * interface (see `services/<name>/src/db-columns.ts`): `'generation_runs.options': GenerationOptions`.
 * A renamed field then fails to compile wherever the column is read, with no cast on the row. A
 * column nobody declares reads as a plain record.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface JsonColumns {}
/** The declared shape of a jsonb column, or `Fallback`. */
export type Shape<K extends string, Fallback = Record<string, unknown>> = K extends keyof JsonColumns ? JsonColumns[K] : Fallback

/** Owner: each service, for its own rows (scoped by `service`). Replays of POSTs with an Idempotency-Key. */
export interface IdempotencyKeysTable {
  service: string
  key: string
  request_hash: string
  status_code: number
  response_body: Json<unknown>
  response_headers: JsonDefault<Record<string, string>>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** `news`: news items with questions; `control`: general-knowledge questions without news. */
export type NewsSetKind = 'news' | 'control'
export type Domain = 'mathematics' | 'coding' | 'discoveries' | 'leaderboards' | 'events'
export type QuestionType = 'recall' | 'implication' | 'knowledge' | 'reasoning'

/** Owner: generation service. A named, versioned set of news items (or of control questions). */
export interface NewsSetsTable {
  id: string
  name: string
  description: string
  kind: NewsSetKind
  version: string
  /** Shipped with the product and seeded at start: read-only. */
  builtin: boolean
  item_count: number
  question_count: number
  content_sha256: string
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** Owner: generation service. One hypothetical news item. */
export interface NewsItemsTable {
  id: string
  set_id: string
  key: string
  position: number
  domain: Domain
  title: string
  date: string
  text: string
  check: Json<{ defs: string[] } | null>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** Owner: generation service. A multiple-choice question, about a news item or (control set) about nothing new. */
export interface QuestionsTable {
  id: string
  set_id: string
  item_id: string | null
  key: string
  position: number
  type: QuestionType
  subject: string | null
  question: string
  options: Json<string[]>
  answer_index: number
  answer_text: string
  explanation: string
  check: Json<{ expr: string } | null>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
export type TrainingJobState = 'queued' | 'dispatched' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** Columns every asynchronous job table has (migrations/job-columns.ts). */
export interface JobColumns<S extends string = RunState> {
  id: string
  state: ColumnType<S, S | undefined, S>
  progress_done: ColumnType<number, number | undefined, number>
  progress_total: ColumnType<number, number | undefined, number>
  attempts: ColumnType<number, number | undefined, number>
  max_attempts: ColumnType<number, number | undefined, number>
  lease_owner: string | null
  lease_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  cancel_requested: ColumnType<boolean, boolean | undefined, boolean>
  error: string | null
  started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  /** A requeued job waits until then (its retry backoff). */
  not_before: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  /** Since when the job's worker (or database) has not answered; such waits count no attempt until a deadline. */
  unavailable_since: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** `<resource>_events` rows: one per state change or progress note. */
export interface EventColumns {
  id: Generated<string>
  type: string
  state: string | null
  message: ColumnType<string, string | undefined, string>
  data: Json<unknown> | null
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** Owner: generation service. One self-play data generation run over a news set. */
export interface GenerationRunsTable extends JobColumns {
  set_id: string
  protocol: string
  options: Json<Shape<'generation_runs.options'>>
  filter: JsonDefault<Shape<'generation_runs.filter'>>
  provenance: Json<Record<string, unknown>>
  samples_requested: ColumnType<number, number | undefined, number>
  samples_accepted: ColumnType<number, number | undefined, number>
  samples_rejected: ColumnType<number, number | undefined, number>
  rejected_by_reason: JsonDefault<Record<string, number>>
  prompt_tokens: ColumnType<number, number | undefined, number>
  completion_tokens: ColumnType<number, number | undefined, number>
  worker_calls: ColumnType<number, number | undefined, number>
  generation_s: ColumnType<number, number | undefined, number>
}
export interface GenerationRunEventsTable extends EventColumns {
  run_id: string
}
/** Owner: generation service. Keyed by run × news item × index: a resumed run never writes one twice. */
export interface GenerationSamplesTable {
  run_id: string
  item_id: string
  sample_index: number
  accepted: boolean
  reject_reason: string | null
  /** The training conversation (accepted samples), exactly what the worker is sent. */
  messages: Json<{ role: string; content: string }[]> | null
  /** Raw model outputs and the prompts that produced them, for inspection. */
  raw: Json<Record<string, unknown>>
  /** Context distillation: the teacher's token ids and top-k log-probabilities for the assistant turn; else null. */
  distill: ColumnType<Shape<'generation_samples.distill', unknown> | null, Shape<'generation_samples.distill', unknown> | string | null | undefined, Shape<'generation_samples.distill', unknown> | string | null>
  prompt_tokens: ColumnType<number, number | undefined, number>
  completion_tokens: ColumnType<number, number | undefined, number>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** Owner: training service. A model worker the dispatcher may use. */
export interface WorkersTable {
  id: string
  name: string
  url: string
  api_key: string | null
  capacity: ColumnType<number, number | undefined, number>
  labels: JsonDefault<Record<string, string>>
  source: 'config' | 'api'
  status: ColumnType<'up' | 'down' | 'unknown', 'up' | 'down' | 'unknown' | undefined, 'up' | 'down' | 'unknown'>
  model: string | null
  engine: string | null
  info: Json<Record<string, unknown>> | null
  last_seen_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  last_error: string | null
  created_at: CreatedAt
  updated_at: UpdatedAt
}
/** Owner: training service. A LoRA training job. */
export interface TrainingJobsTable extends JobColumns<TrainingJobState> {
  name: string
  base_model: string
  data: Json<Shape<'training_jobs.data'>>
  settings: Json<Shape<'training_jobs.settings'>>
  seed: number
  example_count: ColumnType<number, number | undefined, number>
  data_sha256: string | null
  worker_id: string | null
  worker_training_id: string | null
  progress: JsonDefault<Shape<'training_jobs.progress'>>
  compute: JsonDefault<Shape<'training_jobs.compute'>>
  adapter_id: string | null
}
export interface TrainingJobEventsTable extends EventColumns {
  job_id: string
}
/** Owner: training service. A trained adapter; evaluation refers to it by id. */
export interface AdaptersTable {
  id: string
  name: string
  job_id: string
  base_model: string
  worker_id: string | null
  location: Json<{ worker_id: string | null; worker_url: string; name: string; /** `ray`: trained by an engine actor of the Ray pool, on the registry every actor shares */ pool?: 'ray' }>
  data_sha256: string
  hyperparameters: Json<Shape<'adapters.hyperparameters'>>
  final_loss: number | null
  compute: Json<Shape<'adapters.compute'>>
  manifest: Json<Record<string, unknown>>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** Owner: evaluation service. */
export interface EvalRunsTable extends JobColumns {
  model: string
  adapter_id: string | null
  set_id: string
  filter: JsonDefault<Shape<'eval_runs.filter'>>
  mode: 'base' | 'icl' | 'ft' | 'ft_icl'
  scoring: 'loglik' | 'generate'
  options: Json<Shape<'eval_runs.options'>>
  provenance: Json<Record<string, unknown>>
  summary: Json<Shape<'eval_runs.summary'>> | null
}
export interface EvalRunEventsTable extends EventColumns {
  run_id: string
}
/** Owner: evaluation service. One scored question of a run. */
export interface EvalResultsTable {
  run_id: string
  question_id: string
  domain: string | null
  type: string
  option_order: Json<number[]>
  prompt: Json<unknown>
  scores: Json<unknown> | null
  raw_answer: string | null
  predicted_index: number | null
  parsed: boolean
  correct: boolean
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** Owner: evaluation service (it coordinates experiments). */
export interface ExperimentsTable extends JobColumns {
  name: string
  preset: string | null
  spec: Json<Record<string, unknown>>
  results: Json<Record<string, unknown>> | null
}
export interface ExperimentEventsTable extends EventColumns {
  experiment_id: string
}
export type CellState = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
/** Owner: evaluation service. One unit of an experiment: a generation run, a training job or an evaluation run. */
export interface ExperimentCellsTable {
  experiment_id: string
  key: string
  position: number
  kind: 'generation' | 'training' | 'evaluation'
  spec: Json<Shape<'experiment_cells.spec'>>
  depends_on: JsonDefault<string[]>
  state: ColumnType<CellState, CellState | undefined, CellState>
  resource_id: string | null
  progress: JsonDefault<Shape<'experiment_cells.progress'>>
  error: string | null
  started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** The one schema the three services share. */
export interface Database {
  idempotency_keys: IdempotencyKeysTable
  news_sets: NewsSetsTable
  news_items: NewsItemsTable
  questions: QuestionsTable
  generation_runs: GenerationRunsTable
  generation_run_events: GenerationRunEventsTable
  generation_samples: GenerationSamplesTable
  workers: WorkersTable
  training_jobs: TrainingJobsTable
  training_job_events: TrainingJobEventsTable
  adapters: AdaptersTable
  eval_runs: EvalRunsTable
  eval_run_events: EvalRunEventsTable
  eval_results: EvalResultsTable
  experiments: ExperimentsTable
  experiment_events: ExperimentEventsTable
  experiment_cells: ExperimentCellsTable
}

export type NewsSetRow = Selectable<NewsSetsTable>
export type NewNewsSet = Insertable<NewsSetsTable>
export type NewsItemRow = Selectable<NewsItemsTable>
export type NewNewsItem = Insertable<NewsItemsTable>
export type QuestionRow = Selectable<QuestionsTable>
export type NewQuestion = Insertable<QuestionsTable>
export type NewsSetUpdate = Updateable<NewsSetsTable>
export type { Generated }
