import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { Page, invalid, toPage } from '@sys2ft/service-kit'
import { CreateWorkerBody, ListWorkersQuery, Worker, WorkerId } from '../schemas/workers.ts'
import { createWorker, currentJobs, deleteWorker, getWorker, listWorkers, workerOut } from '../domain/workers.ts'

const tags = ['workers']
const problem = { $ref: 'Problem#' }

/** The pool of model workers the dispatcher trains on. */
export async function workersRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.post('/workers', {
    config: { idempotent: true },
    schema: {
      tags,
      summary: 'Register a worker',
      description: 'Its health is checked at once (GET /v1/info: status, model, engine) and then periodically; jobs for the model it serves are dispatched to it while it is up. Its host must be allowed by SYS2FT_WORKER_HOSTS (default: this machine only); any other is a 400 naming `/url`.',
      body: CreateWorkerBody,
      response: { 201: Worker, 400: problem, 409: problem },
    },
  }, async (req, reply) => {
    const refused = app.training.settings.workerHosts.refusal(req.body.url)
    if (refused) throw invalid([{ path: '/url', message: refused }], `this worker may not be registered: its url ${refused}`)
    const row = await createWorker(app.db, req.body)
    await app.training.pool.check(row)
    const fresh = await getWorker(app.db, row.id)
    return reply.code(201).header('location', `/workers/${row.id}`).send(workerOut(fresh, null))
  })

  app.get('/workers', { schema: { tags, summary: 'List workers', querystring: ListWorkersQuery, response: { 200: Page(Worker), 400: problem } } }, async (req) => {
    const rows = await listWorkers(app.db, req.query)
    const jobs = await currentJobs(app.db, rows.map((r) => r.id))
    return toPage(rows, req.query.limit, (w) => workerOut(w, jobs.get(w.id) ?? null))
  })

  app.get('/workers/:id', { schema: { tags, summary: 'Get a worker', params: WorkerId, response: { 200: Worker, 404: problem } } }, async (req) => {
    const w = await getWorker(app.db, req.params.id)
    return workerOut(w, (await currentJobs(app.db, [w.id])).get(w.id) ?? null)
  })

  app.delete('/workers/:id', {
    schema: { tags, summary: 'Remove a worker registered through the API', description: 'Refused (409) while a job is dispatched to it or runs on it, and for workers from the configuration.', params: WorkerId, response: { 204: Type.Null(), 404: problem, 409: problem } },
  }, async (req, reply) => {
    await deleteWorker(app.db, req.params.id)
    return reply.code(204).send(null)
  })
}
