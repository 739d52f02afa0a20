import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Page, toPage } from '@sys2ft/service-kit'
import { Adapter, AdapterId, ListAdaptersQuery } from '../schemas/adapters.ts'
import { adapterOut, getAdapter, listAdapters } from '../domain/adapters.ts'

const tags = ['adapters']
const problem = { $ref: 'Problem#' }

/** Trained adapters, registered by their succeeded jobs; evaluation refers to them by id. */
export async function adaptersRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get('/adapters', { schema: { tags, summary: 'List adapters', querystring: ListAdaptersQuery, response: { 200: Page(Adapter), 400: problem } } }, async (req) => {
    return toPage(await listAdapters(app.db, req.query), req.query.limit, adapterOut)
  })

  app.get('/adapters/:id', { schema: { tags, summary: 'Get an adapter: where it lives, what it was trained on, with what compute', params: AdapterId, response: { 200: Adapter, 404: problem } } }, async (req) => {
    return adapterOut(await getAdapter(app.db, req.params.id))
  })
}
