import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ProblemError } from '../problem.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** POST routes that create: honour the Idempotency-Key header. */
    idempotent?: boolean
  }
  interface FastifyRequest {
    idempotency?: { key: string; hash: string; renew: NodeJS.Timeout }
  }
}

const PENDING = 0
const WINDOW_MS = 24 * 3600 * 1000
/** A pending key is held this long without renewal; its request's instance renews it while working. */
export const PENDING_LEASE_MS = 60_000
const RENEW_MS = PENDING_LEASE_MS / 3

function requestHash(req: FastifyRequest): string {
  return createHash('sha256').update(`${req.method} ${req.url}\n${JSON.stringify(req.body ?? null)}`).digest('hex')
}

/** Keys are scoped to the caller's API key: two clients choosing the same key never see each other's answer. */
function scopedKey(req: FastifyRequest, key: string): string {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')
  const principal = m ? createHash('sha256').update(m[1]!.trim()).digest('hex').slice(0, 16) : 'anonymous'
  return `${principal}:${key}`
}

/**
 * The same Idempotency-Key and body within 24 h return the first answer instead of doing the work
 * twice (a retrying curl loop must not start two runs). The key is claimed before the handler runs,
 * so two concurrent retries cannot both get through; a 5xx releases it for another try; a key whose
 * instance died mid-request is taken over after PENDING_LEASE_MS. Keys are scoped per API key.
 */
export function idempotencyPlugin(service: string) {
  return async function idempotency(app: FastifyInstance): Promise<void> {
    /** This request holds the key: renew it while the handler works, so only a dead instance's key expires. */
    const hold = (req: FastifyRequest, key: string, hash: string) => {
      const renew = setInterval(() => {
        app.db.updateTable('idempotency_keys').set({ updated_at: new Date() }).where('service', '=', service).where('key', '=', key).where('status_code', '=', PENDING).execute()
          .catch((err: unknown) => req.log.warn({ err }, 'could not renew the idempotency key'))
      }, RENEW_MS)
      renew.unref()
      req.idempotency = { key, hash, renew }
    }

    app.addHook('preHandler', async (req, reply) => {
      const key = req.headers['idempotency-key']
      if (!req.routeOptions.config.idempotent || typeof key !== 'string' || key === '') return
      if (key.length > 255) throw new ProblemError(400, 'validation_failed', 'Idempotency-Key is longer than 255 characters', [{ path: '/headers/idempotency-key', message: 'must be at most 255 characters' }])
      const hash = requestHash(req)
      const scoped = scopedKey(req, key)
      await app.db.deleteFrom('idempotency_keys').where('service', '=', service).where('key', '=', scoped).where('created_at', '<', new Date(Date.now() - WINDOW_MS)).execute()
      const claimed = await app.db
        .insertInto('idempotency_keys')
        .values({ service, key: scoped, request_hash: hash, status_code: PENDING, response_body: JSON.stringify(null), response_headers: JSON.stringify({}) })
        .onConflict((oc) => oc.doNothing())
        .returning('key')
        .executeTakeFirst()
      if (claimed) return hold(req, scoped, hash)
      const prior = await app.db.selectFrom('idempotency_keys').selectAll().where('service', '=', service).where('key', '=', scoped).executeTakeFirstOrThrow()
      if (prior.request_hash !== hash) throw new ProblemError(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request')
      if (prior.status_code === PENDING) {
        // The instance working on it renews the key; one that died stops renewing, and after the lease
        // the key is taken over by this request (exactly one of several racing retries wins).
        if (prior.updated_at.getTime() < Date.now() - PENDING_LEASE_MS) {
          const taken = await app.db.updateTable('idempotency_keys').set({ updated_at: new Date() })
            .where('service', '=', service).where('key', '=', scoped).where('status_code', '=', PENDING).where('updated_at', '<', new Date(Date.now() - PENDING_LEASE_MS))
            .returning('key').executeTakeFirst()
          if (taken) return hold(req, scoped, hash)
        }
        reply.header('retry-after', String(Math.ceil(RENEW_MS / 1000)))
        throw new ProblemError(409, 'idempotency_in_progress', 'a request with this Idempotency-Key is still being processed; retry later')
      }
      reply.header('idempotent-replayed', 'true')
      for (const [h, v] of Object.entries(prior.response_headers)) reply.header(h, v)
      return reply.code(prior.status_code).send(prior.response_body)
    })

    const release = (req: FastifyRequest) => {
      if (req.idempotency) clearInterval(req.idempotency.renew)
    }
    app.addHook('onResponse', async (req) => release(req))
    app.addHook('onRequestAbort', async (req) => release(req))

    app.addHook('onSend', async (req, reply, payload) => {
      const idem = req.idempotency
      if (!idem) return payload
      release(req)
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
