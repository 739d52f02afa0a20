import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
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
const ClusterStatus = Type.Object({ service: Type.String(), request_id: Type.String(), peers: Type.Array(Peer) })

/**
 * GET /cluster/status — asks every other service (and the worker) whether it is ready, forwarding this
 * request's id and the service key: one place to see that the stack is wired together.
 */
export function clusterPlugin(service: string, config: Pick<Sys2ftConfig, 'urls' | 'serviceKey' | 'workerApiKey'>) {
  return async function cluster(app: FastifyInstance): Promise<void> {
    app.get('/cluster/status', { schema: { tags: ['health'], summary: 'Readiness of the other services and the worker, as this service sees them', response: { 200: ClusterStatus } } }, async (req) => {
      const peers = (['generation', 'training', 'evaluation', 'worker'] as const).filter((p) => p !== service)
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
      return { service, request_id: req.id, peers: results }
    })
  }
}
