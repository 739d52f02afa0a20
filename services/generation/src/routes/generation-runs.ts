import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANCEL_RULE, Page, invalid, isTerminalState, listEvents, streamJob, toPage } from '@sys2ft/service-kit'
import { ServedModel } from '@sys2ft/worker-client'
import { CreateRunBody, EventsQuery, GenerationRun, ListRunsQuery, RunEvent, RunId, Sample, SamplesQuery } from '../schemas/generation-runs.ts'
import { cancelRun, createRun, getRun, listRuns, resumeRun, runOut } from '../domain/generation-runs.ts'
import { exportAccepted, listSamples } from '../domain/samples.ts'
import type { GenerationOptions } from '../protocols/index.ts'

const tags = ['generation-runs']
const problem = { $ref: 'Problem#' }

/** Sys2-FT self-play data generation runs: create, watch, page samples, export, cancel, resume. */
export async function generationRunsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const servedModel = new ServedModel()

  app.post('/generation-runs', {
    config: { idempotent: true },
    schema: { tags, summary: 'Start a generation run (202; runs in the background)', body: CreateRunBody, response: { 202: GenerationRun, 400: problem, 404: problem } },
  }, async (req, reply) => {
    const b = req.body
    // with the Ray backend: the model of an actor of the pool (none alive yet: not checked, as with a worker that does not answer)
    const checkUrl = app.config.ray ? (await app.workers.members())[0]?.url : app.config.urls.worker
    const wrongModel = b.options?.model && checkUrl ? await servedModel.check(b.options.model, checkUrl, app.config.workerApiKey) : undefined
    if (wrongModel) throw invalid([{ path: '/options/model', message: wrongModel }], `invalid generation run: /options/model ${wrongModel}`)
    const run = await createRun(app.db, { news_set_id: b.news_set_id, protocol: b.protocol, filter: b.filter, options: b.options as GenerationOptions })
    app.generationRunner.wake()
    return reply.code(202).header('location', `/generation-runs/${run.id}`).send(runOut(run))
  })

  app.get('/generation-runs', { schema: { tags, summary: 'List generation runs (newest first)', querystring: ListRunsQuery, response: { 200: Page(GenerationRun) } } }, async (req) => {
    return toPage(await listRuns(app.db, req.query), req.query.limit, runOut)
  })

  app.get('/generation-runs/:id', { schema: { tags, summary: 'A run: state, progress, sample counts by reason, tokens, throughput, provenance', params: RunId, response: { 200: GenerationRun, 404: problem } } }, async (req) => runOut(await getRun(app.db, req.params.id)))

  app.get('/generation-runs/:id/events', { schema: { tags, summary: 'The run’s state changes and progress notes', params: RunId, querystring: EventsQuery, response: { 200: Type.Object({ data: Type.Array(RunEvent) }), 404: problem } } }, async (req) => {
    await getRun(app.db, req.params.id)
    return { data: await listEvents(app.db, 'generation_runs', req.params.id, req.query.after, req.query.limit) }
  })

  app.get('/generation-runs/:id/stream', { schema: { tags, summary: 'Live progress as Server-Sent Events, ending with the terminal state', params: RunId, produces: ['text/event-stream'], response: { 404: problem } } }, async (req, reply) => {
    const id = req.params.id
    await getRun(app.db, id)
    await streamJob(req, reply, { snapshot: async () => runOut(await getRun(app.db, id)), events: (after) => listEvents(app.db, 'generation_runs', id, after), isTerminal: (s) => isTerminalState(s.state) })
  })

  app.get('/generation-runs/:id/samples', { schema: { tags, summary: 'Page through samples (filter accepted / rejected, reason)', params: RunId, querystring: SamplesQuery, response: { 200: Page(Sample), 400: problem, 404: problem } } }, async (req) => {
    await getRun(app.db, req.params.id)
    return listSamples(app.db, req.params.id, req.query)
  })

  app.get('/generation-runs/:id/export', { schema: { tags, summary: 'The accepted training set as JSONL chat conversations (what training sends to the worker)', params: RunId, produces: ['application/x-ndjson'], response: { 404: problem } } }, async (req, reply) => {
    const run = await getRun(app.db, req.params.id)
    reply.header('content-type', 'application/x-ndjson; charset=utf-8').header('content-disposition', `attachment; filename="${run.id}.jsonl"`)
    return reply.send(Readable.from(exportAccepted(app.db, run.id)))
  })

  app.delete('/generation-runs/:id', { schema: { tags, summary: 'Cancel a run (samples written so far are kept)', description: CANCEL_RULE, params: RunId, response: { 202: GenerationRun, 404: problem, 409: problem } } }, async (req, reply) => {
    await cancelRun(app.db, req.params.id)
    return reply.code(202).send(runOut(await getRun(app.db, req.params.id)))
  })

  app.post('/generation-runs/:id/resume', { schema: { tags, summary: 'Resume a failed or cancelled run where it stood', params: RunId, response: { 202: GenerationRun, 404: problem, 409: problem } } }, async (req, reply) => {
    await resumeRun(app.db, req.params.id)
    app.generationRunner.wake()
    return reply.code(202).send(runOut(await getRun(app.db, req.params.id)))
  })
}
