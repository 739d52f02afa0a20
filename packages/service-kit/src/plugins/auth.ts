import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { ProblemError } from '../problem.ts'

const open = ['/healthz', '/readyz', '/docs']

function matches(given: string, keys: Buffer[]): boolean {
  const g = Buffer.from(given)
  let ok = false
  for (const k of keys) if (k.length === g.length && timingSafeEqual(k, g)) ok = true
  return ok
}

/**
 * Bearer-key authentication on every route but health and docs. Client keys and the inter-service
 * key are both accepted. With `devInsecure` and no keys, authentication is off (config refuses that
 * combination unless the flag is set explicitly).
 */
export function authPlugin(opts: { apiKeys: string[]; serviceKey?: string | undefined }) {
  const keys = [...opts.apiKeys, ...(opts.serviceKey ? [opts.serviceKey] : [])].map((k) => Buffer.from(k))
  return async function auth(app: FastifyInstance): Promise<void> {
    if (keys.length === 0) return
    app.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?')[0]!
      if (open.some((p) => path === p || path.startsWith(`${p}/`))) return
      const header = req.headers.authorization ?? ''
      const m = /^Bearer\s+(.+)$/i.exec(header)
      if (!m || !matches(m[1]!.trim(), keys)) {
        reply.header('www-authenticate', 'Bearer')
        throw new ProblemError(401, 'unauthorized', m ? 'the API key is not valid' : 'missing Authorization: Bearer <key>')
      }
    })
  }
}
