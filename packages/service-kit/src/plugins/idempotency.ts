import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ProblemError } from '../problem.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** POST routes that create: honour the Idempotency-Key header. */
    idempotent?: boolean
  }
  interface FastifyRequest {
    idempotency?: { key: string; hash: string }
  }
}

const PENDING = 0
const WINDOW_MS = 24 * 3600 * 1000

function requestHash(req: FastifyRequest): string {
  return createHash('sha256').update(`${req.method} ${req.url}\n${JSON.stringify(req.body ?? null)}`).digest('hex')
}

/**
 * The same Idempotency-Key and body within 24 h return the first answer instead of doing the work
 * twice (a retrying curl loop must not start two runs). The key is claimed before the handler runs,
 * so two concurrent retries cannot both get through; a 5xx releases it for another try.
 */
export function idempotencyPlugin(service: string) {
  return async function idempotency(app: FastifyInstance): Promise<void> {
    app.addHook('preHandler', async (req, reply) => {
      const key = req.headers['idempotency-key']
      if (!req.routeOptions.config.idempotent || typeof key !== 'string' || key === '') return
      if (key.length > 255) throw new ProblemError(400, 'validation_failed', 'Idempotency-Key is longer than 255 characters', [{ path: '/headers/idempotency-key', message: 'must be at most 255 characters' }])
      const hash = requestHash(req)
      await app.db.deleteFrom('idempotency_keys').where('service', '=', service).where('key', '=', key).where('created_at', '<', new Date(Date.now() - WINDOW_MS)).execute()
      const claimed = await app.db
        .insertInto('idempotency_keys')
        .values({ service, key, request_hash: hash, status_code: PENDING, response_body: JSON.stringify(null), response_headers: JSON.stringify({}) })
        .onConflict((oc) => oc.doNothing())
        .returning('key')
        .executeTakeFirst()
      if (claimed) {
        req.idempotency = { key, hash }
        return
      }
      const prior = await app.db.selectFrom('idempotency_keys').selectAll().where('service', '=', service).where('key', '=', key).executeTakeFirstOrThrow()
      if (prior.request_hash !== hash) throw new ProblemError(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request')
      if (prior.status_code === PENDING) throw new ProblemError(409, 'idempotency_in_progress', 'a request with this Idempotency-Key is still being processed; retry later')
      reply.header('idempotent-replayed', 'true')
      for (const [h, v] of Object.entries(prior.response_headers)) reply.header(h, v)
      return reply.code(prior.status_code).send(prior.response_body)
    })

    app.addHook('onSend', async (req, reply, payload) => {
      const idem = req.idempotency
      if (!idem) return payload
      if (reply.statusCode >= 500) {
        await app.db.deleteFrom('idempotency_keys').where('service', '=', service).where('key', '=', idem.key).execute()
        return payload
      }
      const headers: Record<string, string> = {}
      for (const h of ['location', 'content-type']) {
        const v = reply.getHeader(h)
        if (typeof v === 'string') headers[h] = v
      }
      const body = typeof payload === 'string' ? payload : JSON.stringify(null)
      await app.db
        .updateTable('idempotency_keys')
        .set({ status_code: reply.statusCode, response_body: body, response_headers: JSON.stringify(headers), updated_at: new Date() })
        .where('service', '=', service)
        .where('key', '=', idem.key)
        .execute()
      return payload
    })
  }
}
