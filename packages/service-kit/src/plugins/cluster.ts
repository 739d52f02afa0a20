import type { FastifyInstance } from 'fastify'
import { sql, type Kysely } from 'kysely'
import { Type, type Static } from 'typebox'
import type { Database } from '@sys2ft/db'
import type { Sys2ftConfig } from '../config.ts'
import { serviceClient } from '../http-client.ts'

const Peer = Type.Object({
  name: Type.String(),
  url: Type.String(),
  ready: Type.Boolean(),
  status_code: Type.Union([Type.Integer(), Type.Null()]),
  request_id: Type.Union([Type.String(), Type.Null()], { description: 'The x-request-id the peer answered with: the caller’s, forwarded.' }),
  elapsed_ms: Type.Number(),
  error: Type.Union([Type.String(), Type.Null()]),
})
const Amount = Type.Object({ total: Type.Number(), available: Type.Union([Type.Number(), Type.Null()]) })
const States = (names: string[]) => Type.Object(Object.fromEntries(names.map((n) => [n, Type.Integer()])))
const RayStatus = Type.Object(
  {
    address: Type.String({ description: 'SYS2FT_RAY_ADDRESS' }),
    pool_url: Type.String({ description: 'SYS2FT_RAY_POOL_URL: the launcher (python -m sys2ft_worker.ray_pool)' }),
    reachable: Type.Boolean({ description: 'Whether the launcher answered; when not, `error` says why and the cluster fields are empty.' }),
    error: Type.Union([Type.String(), Type.Null()]),
    model: Type.Union([Type.String(), Type.Null()]),
    nodes: Type.Array(Type.Object({ node_id: Type.String(), address: Type.String(), alive: Type.Boolean(), cpus: Amount, gpus: Amount })),
    cpus: Amount,
    gpus: Amount,
    actors: Type.Object({
      alive: Type.Integer(),
      dead: Type.Integer(),
      restarting: Type.Integer(),
      pending: Type.Integer(),
      list: Type.Array(Type.Object({ name: Type.String(), url: Type.Union([Type.String(), Type.Null()]), state: Type.String(), pid: Type.Union([Type.Integer(), Type.Null()]), node_id: Type.Union([Type.String(), Type.Null()]), replacements: Type.Integer() })),
    }),
    queued_work: Type.Object(
      { generation_runs: States(['queued', 'running']), eval_runs: States(['queued', 'running']), training_jobs: States(['queued', 'dispatched', 'running']) },
      { description: 'Work waiting for or running on the pool, from the database.' },
    ),
  },
  { description: 'The Ray backend (SYS2FT_RAY_ADDRESS set): the launcher\'s view of the cluster and its actors, and the queued work.' },
)
const ClusterStatus = Type.Object({ service: Type.String(), request_id: Type.String(), peers: Type.Array(Peer), ray: Type.Optional(RayStatus) })
type RayStatusT = Static<typeof RayStatus>

interface LauncherView {
  model?: string
  actors?: { name: string; url: string | null; state: string; pid: number | null; node_id: string | null; replacements?: number }[]
  cluster?: {
    nodes?: { node_id: string; address: string; alive: boolean; cpus: { total: number; available: number | null }; gpus: { total: number; available: number | null } }[]
    resources?: { cpus?: { total: number; available: number }; gpus?: { total: number; available: number } }
    actors?: { alive: number; dead: number; restarting: number; pending: number }
  }
}

/** Counts of the queued and running work by state, per queue table. */
async function queuedWork(db: Kysely<Database>): Promise<RayStatusT['queued_work']> {
  const count = async (table: 'generation_runs' | 'eval_runs' | 'training_jobs', states: string[]) => {
    const rows = await db.selectFrom(table).select(['state', sql<string>`count(*)`.as('n')]).where('state', 'in', states as never[]).groupBy('state').execute()
    return Object.fromEntries(states.map((st) => [st, Number(rows.find((r) => r.state === st)?.n ?? 0)]))
  }
  const [generation_runs, eval_runs, training_jobs] = await Promise.all([count('generation_runs', ['queued', 'running']), count('eval_runs', ['queued', 'running']), count('training_jobs', ['queued', 'dispatched', 'running'])])
  return { generation_runs, eval_runs, training_jobs } as RayStatusT['queued_work']
}

async function rayStatus(db: Kysely<Database>, ray: NonNullable<Sys2ftConfig['ray']>, key: string | undefined, requestId: string): Promise<RayStatusT> {
  const none = { total: 0, available: 0 }
  let view: LauncherView = {}
  let error: string | null = null
  try {
    const res = await serviceClient({ baseURL: ray.poolUrl, key, requestId, timeoutMs: 3_000 }).get<LauncherView>('/v1/pool')
    if (res.status === 200) view = res.data
    else error = `the launcher answered ${res.status}`
  } catch (err) {
    error = err instanceof Error ? err.message : String(err)
  }
  const actors = view.actors ?? []
  const counts = view.cluster?.actors ?? { alive: 0, dead: 0, restarting: 0, pending: 0 }
  return {
    address: ray.address,
    pool_url: ray.poolUrl,
    reachable: error === null,
    error,
    model: view.model ?? null,
    nodes: view.cluster?.nodes ?? [],
    cpus: view.cluster?.resources?.cpus ?? none,
    gpus: view.cluster?.resources?.gpus ?? none,
    actors: { ...counts, list: actors.map((a) => ({ name: a.name, url: a.url, state: a.state, pid: a.pid, node_id: a.node_id, replacements: a.replacements ?? 0 })) },
    queued_work: await queuedWork(db),
  }
}

/**
 * GET /cluster/status — asks every other service (and the worker) whether it is ready, forwarding this
 * request's id and the service key: one place to see that the stack is wired together. With the Ray
 * backend it adds `ray`: the launcher's nodes, CPUs/GPUs and actors, and the queued work.
 */
export function clusterPlugin(service: string, config: Pick<Sys2ftConfig, 'urls' | 'serviceKey' | 'workerApiKey' | 'ray'>) {
  return async function cluster(app: FastifyInstance): Promise<void> {
    app.get('/cluster/status', { schema: { tags: ['health'], summary: 'Readiness of the other services and the worker, as this service sees them', response: { 200: ClusterStatus } } }, async (req) => {
      // with the Ray backend the workers are the actors, listed under `ray`
      const peers = (['generation', 'training', 'evaluation', 'worker'] as const).filter((p) => p !== service && !(p === 'worker' && config.ray))
      const results = await Promise.all(
        peers.map(async (name) => {
          const url = config.urls[name]
          const started = performance.now()
          const client = serviceClient({ baseURL: url, key: name === 'worker' ? config.workerApiKey : config.serviceKey, requestId: req.id, timeoutMs: 3_000 })
          try {
            const res = await client.get(name === 'worker' ? '/healthz' : '/readyz')
            const rid = res.headers['x-request-id']
            return { name, url, ready: res.status === 200, status_code: res.status, request_id: typeof rid === 'string' ? rid : null, elapsed_ms: performance.now() - started, error: null }
          } catch (err) {
            return { name, url, ready: false, status_code: null, request_id: null, elapsed_ms: performance.now() - started, error: err instanceof Error ? err.message : String(err) }
          }
        }),
      )
      if (!config.ray) return { service, request_id: req.id, peers: results }
      return { service, request_id: req.id, peers: results, ray: await rayStatus(app.db, config.ray, config.workerApiKey, req.id) }
    })
  }
}
