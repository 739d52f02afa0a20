import type { FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Problem } from '../problem.ts'
import { completeResponses } from '../openapi-responses.ts'

export interface DocsOptions {
  title: string
  description: string
  version: string
}

/** OpenAPI 3.1 built from the route schemas, served at /docs/json, with Swagger UI at /docs. */
export function docsPlugin(opts: DocsOptions) {
  return async function docs(app: FastifyInstance): Promise<void> {
    app.addSchema(Problem)
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: opts.title, description: opts.description, version: opts.version },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
      refResolver: { buildLocalReference: (json, _base, _frag, i) => String(json.$id ?? `def-${i}`) },
      transformObject: (doc) => completeResponses((doc as { openapiObject: Record<string, unknown> }).openapiObject),
    })
    await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } })
  }
}
