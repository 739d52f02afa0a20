import { serviceClient } from '@sys2ft/service-kit'
import type { Sys2ftConfig } from '@sys2ft/service-kit'
import type { CellBodies, CellKind } from './cells.ts'

/** A cell's resource as the experiment sees it, whatever service holds it. */
export interface RemoteState {
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
  progress: Record<string, unknown>
  error: string | null
  adapter_id?: string | null
}

export class RemoteError extends Error {
  constructor(
    message: string,
    /** 4xx: the request itself is wrong, retrying will not help. */
    readonly permanent: boolean,
  ) {
    super(message)
  }
}

const PATHS: Record<CellKind, { service: 'generation' | 'training' | 'evaluation'; path: string }> = {
  generation: { service: 'generation', path: '/generation-runs' },
  training: { service: 'training', path: '/training-jobs' },
  evaluation: { service: 'evaluation', path: '/eval-runs' },
}

/**
 * The experiment's calls to the three services, over HTTP with the service key and the experiment's
 * id as request id. Creation carries an Idempotency-Key, so a coordinator that crashed between the
 * POST and recording the answer gets the same resource back instead of a second one.
 */
export class Remote {
  constructor(
    private readonly config: Pick<Sys2ftConfig, 'urls' | 'serviceKey' | 'apiKeys'>,
    private readonly requestId: string,
  ) {}

  private client(kind: CellKind) {
    const { service } = PATHS[kind]
    return serviceClient({ baseURL: this.config.urls[service], key: this.config.serviceKey ?? this.config.apiKeys[0], requestId: this.requestId, timeoutMs: 30_000 })
  }

  async create<K extends CellKind>(kind: K, body: CellBodies[K], idempotencyKey: string): Promise<string> {
    const res = await this.client(kind).post(PATHS[kind].path, body, { headers: { 'idempotency-key': idempotencyKey } })
    if (res.status >= 200 && res.status < 300) return (res.data as { id: string }).id
    const detail = (res.data as { detail?: string; errors?: { path: string; message: string }[] })?.detail ?? `HTTP ${res.status}`
    const fields = (res.data as { errors?: { path: string; message: string }[] })?.errors?.map((e) => `${e.path} ${e.message}`).join('; ')
    throw new RemoteError(`${kind}: ${detail}${fields ? ` (${fields})` : ''}`, res.status >= 400 && res.status < 500 && res.status !== 409)
  }

  async get(kind: CellKind, id: string): Promise<RemoteState> {
    const res = await this.client(kind).get(`${PATHS[kind].path}/${id}`)
    if (res.status !== 200) throw new RemoteError(`${kind} ${id}: HTTP ${res.status}`, res.status === 404)
    const d = res.data as { state: string; progress?: Record<string, unknown>; error?: string | null; adapter_id?: string | null }
    // a training job's `dispatched` is, for the experiment, running
    const state = (d.state === 'dispatched' ? 'running' : d.state) as RemoteState['state']
    return { state, progress: d.progress ?? {}, error: d.error ?? null, ...(d.adapter_id !== undefined ? { adapter_id: d.adapter_id } : {}) }
  }

  async cancel(kind: CellKind, id: string): Promise<void> {
    await this.client(kind).delete(`${PATHS[kind].path}/${id}`)
  }
}
