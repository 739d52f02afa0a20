// The worker's HTTP contract under the names the services use. Every shape comes from
// ./generated/worker-api.ts (`pnpm openapi`, from openapi/worker.json, itself from the worker's
// pydantic models in infra/worker/sys2ft_worker/protocol.py). Wire names are snake_case.
import type { components } from './generated/worker-api.ts'

type Schemas = components['schemas']

export type Message = Schemas['Message']
export type Role = Message['role']

/**
 * A context: chat messages (rendered with the chat template) or a raw prompt — exactly one. The
 * document can only say both are optional; the worker refuses anything else (422), so the types do too.
 */
type ContextFields = 'messages' | 'prompt' | 'adapter'
export type Context = ({ messages: Message[]; prompt?: never } | { prompt: string; messages?: never }) & Pick<Schemas['ScoreItem'], 'adapter'>

export type GenerateRequestItem = Context & Omit<Schemas['GenerateRequestItem'], ContextFields>
export type GenerateRequest = Omit<Schemas['GenerateRequest'], 'requests'> & { requests: GenerateRequestItem[] }
export type Completion = Schemas['Completion']
export type GenerateResponse = Schemas['GenerateResponse']

/** `prefix`: text after the context that every continuation follows (the start of the reply), not scored. */
export type ScoreItem = Context & Omit<Schemas['ScoreItem'], ContextFields>
export type ScoreRequest = Omit<Schemas['ScoreRequest'], 'items'> & { items: ScoreItem[] }
export type ScoreResponse = Schemas['ScoreResponse']

export type LoraSettings = Schemas['LoraSettings']
/** Context distillation: a teacher's generated token ids and, per token, its top-k [id, log-probability] lists. */
export type DistillTarget = Schemas['DistillTarget']
export type TrainingExample = Schemas['TrainingExample']
export type TrainingRequest = Schemas['TrainingRequest']
export type TrainingStatus = Schemas['TrainingStatus']
export type TrainingState = TrainingStatus['state']
export const TERMINAL_TRAINING_STATES: readonly TrainingState[] = ['succeeded', 'failed', 'cancelled']
export type LossPoint = Schemas['LossPoint']
export type AdapterManifest = Schemas['AdapterManifest']

export type WorkerInfo = Schemas['Info']
export type WorkerProblem = Schemas['Problem']
