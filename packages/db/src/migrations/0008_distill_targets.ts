import type { Kysely } from 'kysely'

/**
 * Context distillation: an accepted sample keeps the teacher's targets for its assistant turn (its
 * token ids and, per token, the top-k log-probabilities), which a training job with objective
 * `distill` sends to the worker with the conversation. Null for every other sample. Owner:
 * generation service (as the rest of generation_samples).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('generation_samples').addColumn('distill', 'jsonb').execute()
}
