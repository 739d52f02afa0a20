import type { Kysely, Selectable } from 'kysely'
import type { AdaptersTable, Database } from '@sys2ft/db'
import { isId, notFound } from '@sys2ft/service-kit'
import type { AdapterOut } from '../schemas/adapters.ts'

export type AdapterRow = Selectable<AdaptersTable>

export async function getAdapter(db: Kysely<Database>, id: string): Promise<AdapterRow> {
  const row = isId('ad', id) ? await db.selectFrom('adapters').selectAll().where('id', '=', id).executeTakeFirst() : undefined
  if (!row) throw notFound('adapter', id)
  return row
}

export async function listAdapters(db: Kysely<Database>, q: { limit: number; after?: string | undefined; base_model?: string | undefined; job_id?: string | undefined; worker_id?: string | undefined }): Promise<AdapterRow[]> {
  let query = db.selectFrom('adapters').selectAll().orderBy('id').limit(q.limit + 1)
  if (q.after) query = query.where('id', '>', q.after)
  if (q.base_model) query = query.where('base_model', '=', q.base_model)
  if (q.job_id) query = query.where('job_id', '=', q.job_id)
  if (q.worker_id) query = query.where('worker_id', '=', q.worker_id)
  return query.execute()
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null)

export function adapterOut(a: AdapterRow): AdapterOut {
  const c = a.compute
  return {
    id: a.id,
    object: 'adapter',
    name: a.name,
    job_id: a.job_id,
    base_model: a.base_model,
    location: a.location,
    data_sha256: a.data_sha256,
    hyperparameters: { ...a.hyperparameters, objective: a.hyperparameters.objective ?? 'sft' }, // stored before objectives existed: sft
    final_loss: a.final_loss,
    compute: { trainable_params: num(c.trainable_params), total_params: num(c.total_params), tokens_trained: c.tokens_trained ?? 0, flops: num(c.flops), wall_s: num(c.wall_s), train_s: num(c.train_s) },
    manifest: a.manifest,
    created_at: a.created_at.toISOString(),
    updated_at: a.updated_at.toISOString(),
  }
}
