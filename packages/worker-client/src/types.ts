// The worker's HTTP contract (infra/worker/sys2ft_worker/protocol.py, openapi/worker.json), as TypeScript.
// Wire names are snake_case, as the worker speaks them.

export type Role = 'system' | 'user' | 'assistant'
export interface Message {
  role: Role
  content: string
}

/** A context: chat messages (rendered with the chat template) or a raw prompt — exactly one. */
export type Context = ({ messages: Message[]; prompt?: never } | { prompt: string; messages?: never }) & { adapter?: string | null }

export type GenerateRequestItem = Context & {
  n?: number
  temperature?: number
  top_p?: number
  max_tokens?: number
  stop?: string[] | null
  seed?: number | null
}
export interface GenerateRequest {
  model?: string
  requests: GenerateRequestItem[]
}
export interface Completion {
  text: string
  finish_reason: 'stop' | 'length'
  completion_tokens: number
}
export interface GenerateResponse {
  model: string
  results: { index: number; prompt_tokens: number; completions: Completion[] }[]
  usage: { prompt_tokens: number; completion_tokens: number }
  elapsed_s: number
}

/** `prefix`: text after the context that every continuation follows (the start of the reply), not scored. */
export type ScoreItem = Context & { prefix?: string | null; continuations: string[] }
export interface ScoreRequest {
  model?: string
  items: ScoreItem[]
  /** shared_prefix (default): the context is computed once per item; per_sequence: the old path, for benchmarks. */
  strategy?: 'shared_prefix' | 'per_sequence'
}
export interface ScoreResponse {
  model: string
  /** Per item, per continuation: summed log-probability and token count. */
  results: { index: number; scores: { logprob: number; tokens: number }[] }[]
  elapsed_s: number
}

export interface LoraSettings {
  r?: number
  alpha?: number
  dropout?: number
  target_modules?: 'all-linear' | string[]
}
export interface TrainingRequest {
  /** Client-chosen id: a repeated POST with the same id returns the existing training (safe to retry). */
  training_id?: string
  base_model?: string
  adapter_name: string
  examples: { messages: Message[] }[]
  loss_on?: 'assistant' | 'all'
  lora?: LoraSettings
  learning_rate?: number
  lr_scheduler?: 'linear' | 'cosine' | 'constant'
  warmup_ratio?: number
  epochs?: number
  batch_size?: number
  gradient_accumulation_steps?: number
  max_seq_len?: number
  seed?: number
  overwrite?: boolean
  /** null/absent = auto (on when the activations would exceed 1 GiB) */
  gradient_checkpointing?: boolean | null
}

export type TrainingState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
export const TERMINAL_TRAINING_STATES: readonly TrainingState[] = ['succeeded', 'failed', 'cancelled']

export interface LossPoint {
  step: number
  loss: number
  learning_rate: number
  tokens_seen: number
  elapsed_s: number
}

export interface AdapterManifest {
  name: string
  base_model: string
  base_model_path: string
  created_at: string
  lora: Record<string, unknown>
  hyperparameters: Record<string, unknown>
  data_sha256: string
  examples: number
  tokens_trained: number
  final_loss: number | null
  trainable_params: number
  total_params: number
  elapsed_s: number
  training_id: string | null
  [extra: string]: unknown
}

export interface TrainingStatus {
  id: string
  adapter_name: string
  base_model: string
  state: TrainingState
  step: number
  total_steps: number
  epoch: number
  loss: number | null
  loss_history: LossPoint[]
  learning_rate: number
  tokens_seen: number
  tokens_per_s: number
  elapsed_s: number
  trainable_params: number
  total_params: number
  error: string | null
  adapter: AdapterManifest | null
  created_at: string
  started_at: string | null
  finished_at: string | null
}

export interface WorkerInfo {
  engine: string
  device: string
  dtype: string
  model: { id: string; path: string }
  adapters: string[]
  training: { id: string; state: TrainingState } | null
  max_batch: number
  version: string
}

export interface WorkerProblem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  request_id?: string | null
  errors?: { path: string; message: string }[] | null
}
