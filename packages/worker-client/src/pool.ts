import { WorkerClient, WorkerError, type WorkerClientOptions } from './client.ts'

/** One worker of a pool: a plain HTTP worker, or an engine actor of the Ray launcher. */
export interface PoolMember {
  name: string
  url: string
  apiKey?: string | undefined
}

export type ClientSettings = Pick<WorkerClientOptions, 'retries' | 'retryDelayMs' | 'timeouts' | 'hang'>

export interface WorkerPoolOptions {
  /** The members now; asked again at most every `refreshMs` (a failure keeps the last list). */
  source: () => Promise<PoolMember[]>
  /** The pool's key when a member has none of its own. */
  apiKey?: string | undefined
  client?: ClientSettings | undefined
  refreshMs?: number
  /** How long a member that did not answer is tried only after every other member. */
  deadMs?: number
  /** What the pool is, for /cluster/status and errors: `worker` (SYS2FT_WORKER_URL) or `ray`. */
  kind?: 'worker' | 'ray'
}

/** The launcher's (`python -m sys2ft_worker.ray_pool`) view, GET /v1/pool; only what the services read. */
export interface RayPoolView {
  model: string
  address: string
  actors: { name: string; slot: number; url: string | null; state: string; pid: number | null; node_id: string | null; replacements: number }[]
  cluster: {
    nodes: { node_id: string; address: string; alive: boolean; cpus: { total: number; available: number | null }; gpus: { total: number; available: number | null } }[]
    resources: { cpus?: { total: number; available: number }; gpus?: { total: number; available: number } }
    actors: { alive: number; dead: number; restarting: number; pending: number }
    error?: string
  }
  [k: string]: unknown
}

/** Reads the Ray launcher's actor list. */
export async function fetchRayPool(poolUrl: string, apiKey: string | undefined, timeoutMs = 3_000): Promise<RayPoolView> {
  const res = await fetch(`${poolUrl.replace(/\/+$/, '')}/v1/pool`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`ray pool launcher ${poolUrl}: ${res.status} ${(await res.text()).slice(0, 200)}`)
  return (await res.json()) as RayPoolView
}

/** The alive actors of a launcher's view, as pool members. */
export const aliveActors = (view: RayPoolView): PoolMember[] => view.actors.filter((a) => a.state === 'alive' && a.url).map((a) => ({ name: a.name, url: a.url! }))

/**
 * The workers a generation or evaluation run sends its chunks to. Each call goes to a member that
 * answered last time and has the fewest calls in flight (ties in turn); a member that cannot be
 * reached (refused: its process is gone; reset; hung; 502/503/504) is set aside for `deadMs` and the
 * same call goes to the next member — model calls change nothing on the worker, so sending one
 * again elsewhere is safe. When every member failed, the last error is thrown: with one member
 * (`WorkerPool.single`, today's SYS2FT_WORKER_URL) exactly the error the caller always got.
 */
export class WorkerPool {
  readonly kind: 'worker' | 'ray'
  private list: PoolMember[] = []
  private fetchedAt = -Infinity
  private refreshing: Promise<void> | null = null
  private readonly inflight = new Map<string, number>()
  private readonly deadUntil = new Map<string, number>()
  private turn = 0

  constructor(private readonly opts: WorkerPoolOptions) {
    this.kind = opts.kind ?? 'worker'
  }

  /** A pool of one worker: the behaviour of a single SYS2FT_WORKER_URL (concurrency 1). */
  static single(url: string, apiKey: string | undefined, client?: ClientSettings): WorkerPool {
    const member = { name: 'default', url }
    return new WorkerPool({ source: async () => [member], apiKey, client, refreshMs: Infinity })
  }

  /** The engine actors a Ray launcher lists as alive (SYS2FT_RAY_POOL_URL), refreshed every `refreshMs`. */
  static ray(poolUrl: string, apiKey: string | undefined, client?: ClientSettings, refreshMs = 2_000): WorkerPool {
    return new WorkerPool({ source: async () => aliveActors(await fetchRayPool(poolUrl, apiKey)), apiKey, client, refreshMs, kind: 'ray' })
  }

  /** The members, refreshed when the list is older than `refreshMs`. */
  async members(): Promise<PoolMember[]> {
    if (Date.now() - this.fetchedAt >= (this.opts.refreshMs ?? 2_000)) {
      this.refreshing ??= this.opts
        .source()
        .then((l) => {
          this.list = l
          this.fetchedAt = Date.now()
        })
        .catch(() => {
          // keep the last list; an empty one makes calls fail as unavailable
          this.fetchedAt = Date.now() - (this.opts.refreshMs ?? 2_000) / 2
        })
        .finally(() => (this.refreshing = null))
      await this.refreshing
    }
    return this.list
  }

  /** How many chunks to run at once: one per member (at least 1). */
  async concurrency(): Promise<number> {
    return Math.max(1, (await this.members()).length)
  }

  /** A typed client for one member, acting for `requestId`. */
  client(m: PoolMember, requestId?: string): WorkerClient {
    return new WorkerClient({ ...this.opts.client, baseURL: m.url, apiKey: m.apiKey ?? this.opts.apiKey, requestId })
  }

  /** The member a call goes to now, leaving out `skip`; undefined when none is left. */
  pick(members: PoolMember[], skip: ReadonlySet<string> = new Set(), now = Date.now()): PoolMember | undefined {
    const open = members.filter((m) => !skip.has(m.url))
    if (open.length === 0) return undefined
    const live = open.filter((m) => (this.deadUntil.get(m.url) ?? 0) <= now)
    const from = live.length > 0 ? live : open
    const start = this.turn++ % from.length
    let best: PoolMember | undefined
    for (let i = 0; i < from.length; i++) {
      const m = from[(start + i) % from.length]!
      if (!best || (this.inflight.get(m.url) ?? 0) < (this.inflight.get(best.url) ?? 0)) best = m
    }
    return best
  }

  markDead(url: string, now = Date.now()): void {
    this.deadUntil.set(url, now + (this.opts.deadMs ?? 5_000))
  }

  /**
   * Runs `fn` against a member (see the class), trying the next member when one cannot be reached.
   * Resolves with the value and the member that answered.
   */
  async call<T>(requestId: string | undefined, fn: (client: WorkerClient, member: PoolMember) => Promise<T>, signal?: AbortSignal): Promise<{ value: T; member: PoolMember }> {
    const members = await this.members()
    const tried = new Set<string>()
    let last: unknown = new WorkerError(`no live worker in the ${this.kind === 'ray' ? 'Ray pool' : 'pool'}`, null, 'worker_unavailable')
    for (;;) {
      const m = this.pick(members, tried)
      if (!m) throw last
      tried.add(m.url)
      this.inflight.set(m.url, (this.inflight.get(m.url) ?? 0) + 1)
      try {
        const value = await fn(this.client(m, requestId), m)
        this.deadUntil.delete(m.url)
        return { value, member: m }
      } catch (err) {
        if (!(err instanceof WorkerError) || !err.unavailable || signal?.aborted) throw err
        this.markDead(m.url)
        last = err
      } finally {
        this.inflight.set(m.url, (this.inflight.get(m.url) ?? 1) - 1)
      }
    }
  }

  /** Any member's /v1/info (the model the pool serves), asked for `requestId` when given. */
  async info(requestId?: string) {
    return (await this.call(requestId, (c) => c.info())).value
  }
}

/**
 * Runs `fn` over `items` with at most `concurrency` at once, in order of the list. After the first
 * failure nothing new starts; the calls under way finish, then that failure is thrown. With
 * `concurrency` 1 it is a plain loop. Stops starting new items once `signal` aborts.
 */
export async function forEachConcurrently<T>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0
  let failed: { err: unknown } | null = null
  const lane = async () => {
    while (!failed && !signal?.aborted && next < items.length) {
      const i = next++
      try {
        await fn(items[i]!, i)
      } catch (err) {
        failed ??= { err }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane))
  if (failed) throw (failed as { err: unknown }).err
}
