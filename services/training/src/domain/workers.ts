import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, WorkersTable } from '@sys2ft/db'
import { ProblemError, conflict, isId, newId, notFound } from '@sys2ft/service-kit'
import type { ConfiguredWorker } from '../config.ts'
import type { WorkerOut } from '../schemas/workers.ts'

export type WorkerRow = Selectable<WorkersTable>
export const ACTIVE_STATES = ['dispatched', 'running'] as const

/**
 * Registers the configured workers (upsert by name: configuration wins over an API registration of
 * the same name) and removes configured workers that are no longer configured and hold no job.
 * Safe for several instances starting at once.
 */
export async function registerConfigured(db: Kysely<Database>, workers: ConfiguredWorker[]): Promise<void> {
  if (workers.length > 0) {
    await db
      .insertInto('workers')
      .values(workers.map((w) => ({ id: newId('wk'), name: w.name, url: w.url, api_key: w.api_key ?? null, capacity: w.capacity ?? 1, labels: JSON.stringify(w.labels ?? {}), source: 'config' as const })))
      .onConflict((oc) =>
        oc.column('name').doUpdateSet((eb) => ({
          url: eb.ref('excluded.url'),
          api_key: eb.ref('excluded.api_key'),
          capacity: eb.ref('excluded.capacity'),
          labels: eb.ref('excluded.labels'),
          source: 'config',
          // a changed URL is a different process: its status is unknown until checked
          status: sql`case when workers.url = excluded.url then workers.status else 'unknown' end`,
          updated_at: new Date(),
        })),
      )
      .execute()
  }
  let stale = db
    .deleteFrom('workers')
    .where('source', '=', 'config')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('training_jobs').select('id').whereRef('training_jobs.worker_id', '=', 'workers.id').where('state', 'in', ACTIVE_STATES))))
  if (workers.length > 0) stale = stale.where('name', 'not in', workers.map((w) => w.name))
  await stale.execute()
}

export async function createWorker(db: Kysely<Database>, body: { name: string; url: string; api_key?: string | undefined; capacity: number; labels: Record<string, string> }): Promise<WorkerRow> {
  try {
    return await db
      .insertInto('workers')
      .values({ id: newId('wk'), name: body.name, url: body.url.replace(/\/+$/, ''), api_key: body.api_key ?? null, capacity: body.capacity, labels: JSON.stringify(body.labels), source: 'api' })
      .returningAll()
      .executeTakeFirstOrThrow()
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new ProblemError(409, 'conflict', `a worker named ${body.name} exists already`, [{ path: '/name', message: 'is taken' }])
    throw err
  }
}

export async function getWorker(db: Kysely<Database>, id: string): Promise<WorkerRow> {
  const row = isId('wk', id) ? await db.selectFrom('workers').selectAll().where('id', '=', id).executeTakeFirst() : undefined
  if (!row) throw notFound('worker', id)
  return row
}

export async function listWorkers(db: Kysely<Database>, q: { limit: number; after?: string | undefined; status?: WorkerRow['status'] | undefined; model?: string | undefined }): Promise<WorkerRow[]> {
  let query = db.selectFrom('workers').selectAll().orderBy('id').limit(q.limit + 1)
  if (q.after) query = query.where('id', '>', q.after)
  if (q.status) query = query.where('status', '=', q.status)
  if (q.model) query = query.where('model', '=', q.model)
  return query.execute()
}

/** Jobs dispatched to or running on these workers, by worker id. */
export async function currentJobs(db: Kysely<Database>, workerIds: string[]): Promise<Map<string, string>> {
  if (workerIds.length === 0) return new Map()
  const rows = await db.selectFrom('training_jobs').select(['id', 'worker_id']).where('worker_id', 'in', workerIds).where('state', 'in', ACTIVE_STATES).execute()
  return new Map(rows.map((r) => [r.worker_id!, r.id]))
}

/** Removes a worker registered through the API; refused while a job runs on it, and for configured ones. */
export async function deleteWorker(db: Kysely<Database>, id: string): Promise<void> {
  const w = await getWorker(db, id)
  if (w.source === 'config') throw new ProblemError(409, 'read_only', `worker ${w.name} comes from the configuration (SYS2FT_WORKER_URL / SYS2FT_WORKERS); remove it there`)
  const busy = await currentJobs(db, [id])
  if (busy.size) throw conflict(`worker ${w.name} is running training job ${busy.get(id)}; cancel it or wait for it to end`)
  await db.deleteFrom('workers').where('id', '=', id).execute()
}

/** Served models: what base_model may name. */
export async function servedModels(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom('workers').select('model').distinct().where('model', 'is not', null).orderBy('model').execute()
  return rows.map((r) => r.model!)
}

export function workerOut(w: WorkerRow, currentJob: string | null): WorkerOut {
  return {
    id: w.id,
    object: 'worker',
    name: w.name,
    url: w.url,
    has_api_key: Boolean(w.api_key),
    capacity: w.capacity,
    labels: w.labels,
    source: w.source,
    status: w.status,
    model: w.model,
    engine: w.engine,
    info: w.info,
    current_job_id: currentJob,
    last_seen_at: w.last_seen_at?.toISOString() ?? null,
    last_error: w.last_error,
    created_at: w.created_at.toISOString(),
    updated_at: w.updated_at.toISOString(),
  }
}
