import type { TSchema } from 'typebox'
import type { ChunkContext, ItemState } from './kit.ts'

/**
 * One way of turning news into training data. Each lives in its own folder (`protocols/<name>/`)
 * and is listed once in `registry.ts`; the HTTP schema, the experiment spec, the CLI and the
 * OpenAPI documents take their lists from there.
 */
export interface ProtocolModule<Name extends string = string> {
  /** Its name in the API (`protocol`), in experiment specs and on the CLI. */
  name: Name
  /** What it does, in a sentence or two (the API documentation). */
  description: string
  /** Options only this protocol reads, merged into the generation options (each says whose it is). */
  options?: Record<string, TSchema>
  /** Whether it asks the model (its runs then record the worker that generated). */
  usesModel: boolean
  /**
   * How its data is trained when an experiment does not say (EntiGraph's text: the loss on every
   * token; context distillation: KL to the teacher's targets), merged into the job's hyperparameters.
   */
  training?: { loss_on?: 'assistant' | 'all'; objective?: 'sft' | 'distill' }
  /** The prompt templates as recorded in a run's provenance: their version and exact text. */
  templates: { version: string } & Record<string, unknown>
  /** Generates one chunk's samples into `ctx.acc`; returns each item's state (replay copies follow). */
  run(ctx: ChunkContext): Promise<ItemState[]>
}
