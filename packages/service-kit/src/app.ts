import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { Kysely } from 'kysely'
import { createDb, type Database } from '@sys2ft/db'
import type { Sys2ftConfig } from './config.ts'
import { clientErrorHandler, errorsPlugin, frameworkErrors } from './plugins/errors.ts'
import { textInputPlugin } from './plugins/text-input.ts'
import { authPlugin } from './plugins/auth.ts'
import { docsPlugin } from './plugins/docs.ts'
import { healthPlugin } from './plugins/health.ts'
import { idempotencyPlugin } from './plugins/idempotency.ts'
import { clusterPlugin } from './plugins/cluster.ts'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    config: Sys2ftConfig
    service: string
  }
}

export type ServiceName = 'generation' | 'training' | 'evaluation'
export type App = FastifyInstance

export interface ServiceDefinition {
  name: ServiceName
  title: string
  description: string
  version: string
  /** The service's own capabilities (repositories, background loops), registered before routes. */
  plugins?: FastifyPluginAsync[]
  /** One plugin per resource. */
  routes: FastifyPluginAsync[]
}

export interface BuildOptions {
  /** A database handle to use instead of opening one from config (tests share theirs). */
  db?: Kysely<Database>
  logger?: FastifyServerOptions['logger']
  bodyLimit?: number
}

// Bodies are validated strictly (wrong types are errors, unknown fields are errors); query strings and
// path parameters arrive as text, so they are coerced.
function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, removeAdditional: false, useDefaults: true, coerceTypes: coerce ? 'array' : false, strict: false })
  ;(addFormats as unknown as (a: Ajv) => void)(ajv)
  return ajv
}

/**
 * Builds a service: the shared bootstrap in the fastify/demo order — external capabilities (errors,
 * auth, docs), the service's own plugins, then its routes. Tests drive the result with `inject`.
 */
export async function createService(def: ServiceDefinition, config: Sys2ftConfig, opts: BuildOptions = {}): Promise<App> {
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel },
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID()
    },
    bodyLimit: opts.bodyLimit ?? 64 * 1024 * 1024,
    return503OnClosing: true,
    frameworkErrors,
    clientErrorHandler,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>()

  const bodyAjv = makeAjv(false)
  const textAjv = makeAjv(true)
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema))

  const ownsDb = !opts.db
  const db = opts.db ?? createDb({ url: config.databaseUrl, poolMax: config.db.poolMax, statementTimeoutMs: config.db.statementTimeoutMs, applicationName: `sys2ft-${def.name}` })
  app.decorate('db', db)
  app.decorate('config', config)
  app.decorate('service', def.name)
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id)
    return payload
  })
  app.addHook('onClose', async () => {
    if (ownsDb) await db.destroy()
  })

  await app.register(fp(errorsPlugin))
  await app.register(fp(textInputPlugin))
  await app.register(fp(authPlugin({ apiKeys: config.apiKeys, serviceKey: config.serviceKey })))
  await app.register(fp(docsPlugin({ title: def.title, description: def.description, version: def.version })))
  await app.register(fp(idempotencyPlugin(def.name)))
  await app.register(healthPlugin(def.name))
  await app.register(clusterPlugin(def.name, config))
  // shared capabilities apply to the whole app (fastify-plugin lifts encapsulation); routes stay encapsulated
  for (const p of def.plugins ?? []) await app.register(fp(p))
  for (const r of def.routes) await app.register(r)
  await app.ready()
  return app
}
