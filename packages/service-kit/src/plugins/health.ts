import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { sql } from 'kysely'
import { migrationState } from '@sys2ft/db'

const Health = Type.Object({ status: Type.String(), service: Type.String() })
const Ready = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  service: Type.String(),
  database: Type.Boolean(),
  migrations_current: Type.Boolean(),
  pending_migrations: Type.Array(Type.String()),
})

/** /healthz: the process is alive. /readyz: the database answers and the schema is current. */
export function healthPlugin(service: string) {
  return async function health(app: FastifyInstance): Promise<void> {
    app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness', security: [], response: { 200: Health } } }, async () => ({ status: 'ok', service }))
    app.get('/readyz', { schema: { tags: ['health'], summary: 'Readiness: database reachable and migrations current', security: [], response: { 200: Ready, 503: Ready } } }, async (_req, reply) => {
      try {
        await sql`select 1`.execute(app.db)
        const m = await migrationState(app.db)
        const body = { status: m.current ? 'ready' : 'not_ready', service, database: true, migrations_current: m.current, pending_migrations: m.pending } as const
        return reply.code(m.current ? 200 : 503).send(body)
      } catch (err) {
        app.log.warn({ err }, 'readiness check failed')
        return reply.code(503).send({ status: 'not_ready', service, database: false, migrations_current: false, pending_migrations: [] })
      }
    })
  }
}
