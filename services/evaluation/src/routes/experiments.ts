import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANCEL_RULE, Page, ProblemError, isTerminalState, listEvents, streamJob, toPage } from '@sys2ft/service-kit'
import { ServedModel, WorkerClient } from '@sys2ft/worker-client'
import { ExperimentRequest } from '../experiments/spec.ts'
import { resolveSpec } from '../experiments/resolve.ts'
import { cancelExperiment, cellsOf, createExperiment, experimentOut, getCells, getExperiment, listExperiments, resumeExperiment } from '../experiments/experiments.ts'
import { buildReport } from '../domain/report.ts'
import { renderCsv } from '../report/csv.ts'
import { renderHtml } from '../report/html.ts'
import { modelCheck } from '../plugins/eval-runner.ts'
import { Experiment, ExperimentId, ExperimentReportQuery, ListExperimentsQuery } from '../schemas/experiments.ts'

const tags = ['experiments']
const problem = { $ref: 'Problem#' }

/**
 * Experiments: one request runs generation → training → evaluation over a grid (the evaluation
 * service coordinates; generation and training are called over HTTP) and builds the research's tables.
 */
export async function experimentsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const servedModel = new ServedModel()
  const out = async (id: string) => experimentOut(await getExperiment(app.db, id), await getCells(app.db, id))
  const defaultModel = async () => {
    try {
      if (app.rayPool) return (await app.rayPool.info()).model.id
      return (await new WorkerClient({ baseURL: app.config.urls.worker, apiKey: app.config.workerApiKey, retries: 1 }).info()).model.id
    } catch {
      throw new ProblemError(503, 'worker_unavailable', 'no model named and the worker cannot be asked for its model: name `models` or start the worker', [{ path: '/models', message: 'required while the worker is unreachable' }])
    }
  }

  app.post('/experiments', {
    config: { idempotent: true },
    schema: { tags, summary: 'Start an experiment (202): expands the spec into cells and runs them', body: ExperimentRequest, response: { 202: Experiment, 400: problem, 404: problem, 503: problem } },
  }, async (req, reply) => {
    const checkModel = modelCheck(app, servedModel)
    const spec = await resolveSpec(app.db, req.body, { defaultModel, checkModel })
    const e = await createExperiment(app.db, spec, { maxCells: app.config.limits.experimentCells })
    app.experimentRunner.wake()
    return reply.code(202).header('location', `/experiments/${e.id}`).send(await out(e.id))
  })

  app.get('/experiments', { schema: { tags, summary: 'List experiments (newest first)', querystring: ListExperimentsQuery, response: { 200: Page(Experiment) } } }, async (req) => {
    // the page's rows as listed, and all their cells in one query (it was two queries per experiment)
    const rows = await listExperiments(app.db, req.query)
    const page = toPage(rows, req.query.limit, (r) => r)
    const cells = await cellsOf(app.db, page.data.map((r) => r.id))
    return { ...page, data: page.data.map((r) => experimentOut(r, cells.get(r.id)!)) }
  })

  app.get('/experiments/:id', { schema: { tags, summary: 'State, per-cell state and progress, time estimate, results', params: ExperimentId, response: { 200: Experiment, 404: problem } } }, async (req) => out(req.params.id))

  app.get('/experiments/:id/events', { schema: { tags, summary: 'What happened, in order', params: ExperimentId, response: { 200: Type.Object({ data: Type.Array(Type.Object({ id: Type.String(), type: Type.String(), state: Type.Union([Type.String(), Type.Null()]), message: Type.String(), data: Type.Unknown(), created_at: Type.String() })) }), 404: problem } } }, async (req) => {
    await getExperiment(app.db, req.params.id)
    return { data: await listEvents(app.db, 'experiments', req.params.id) }
  })

  app.get('/experiments/:id/stream', { schema: { tags, summary: 'Live progress as Server-Sent Events', params: ExperimentId, produces: ['text/event-stream'], response: { 404: problem } } }, async (req, reply) => {
    const id = req.params.id
    await getExperiment(app.db, id)
    await streamJob(req, reply, { snapshot: () => out(id), events: (after) => listEvents(app.db, 'experiments', id, after), isTerminal: (s) => isTerminalState(s.state), pollMs: 1000 })
  })

  app.get('/experiments/:id/results', {
    schema: { tags, summary: 'The result table as JSON, or CSV (`?format=csv`)', params: ExperimentId, querystring: Type.Object({ format: Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }) }, { additionalProperties: false }), produces: ['application/json', 'text/csv'], response: { 404: problem, 409: problem } },
  }, async (req, reply) => {
    const e = await getExperiment(app.db, req.params.id)
    if (!e.results) throw new ProblemError(409, 'not_ready', `experiment ${e.id} is ${e.state}; results come when every cell has ended`)
    if (req.query.format === 'csv') {
      const runs = (e.results as { report_runs?: string[] }).report_runs ?? []
      return reply.type('text/csv; charset=utf-8').serializer((s: string) => s).send(renderCsv(await buildReport(app.db, runs)))
    }
    return e.results
  })

  app.get('/experiments/:id/report', {
    schema: { tags, summary: 'The evaluation report across all the experiment’s cells (HTML by default; `?format=json|csv`)', params: ExperimentId, querystring: ExperimentReportQuery, produces: ['text/html', 'application/json', 'text/csv'], response: { 404: problem, 409: problem } },
  }, async (req, reply) => {
    const cells = await getCells(app.db, req.params.id)
    await getExperiment(app.db, req.params.id)
    const runs = cells.filter((c) => c.kind === 'evaluation' && c.resource_id).map((c) => c.resource_id!)
    if (runs.length === 0) throw new ProblemError(409, 'not_ready', 'no evaluation has started yet')
    const report = await buildReport(app.db, runs)
    if (req.query.format === 'json') return reply.send(report)
    if (req.query.format === 'csv') return reply.type('text/csv; charset=utf-8').serializer((s: string) => s).send(renderCsv(report))
    return reply.type('text/html; charset=utf-8').serializer((s: string) => s).send(renderHtml(report))
  })

  app.delete('/experiments/:id', { schema: { tags, summary: 'Cancel: running cells are cancelled in their services', description: CANCEL_RULE, params: ExperimentId, response: { 202: Experiment, 404: problem, 409: problem } } }, async (req, reply) => {
    await cancelExperiment(app.db, req.params.id)
    return reply.code(202).send(await out(req.params.id))
  })

  app.post('/experiments/:id/resume', { schema: { tags, summary: 'Resume a failed or cancelled experiment; finished cells are kept', params: ExperimentId, response: { 202: Experiment, 404: problem, 409: problem } } }, async (req, reply) => {
    await resumeExperiment(app.db, req.params.id)
    app.experimentRunner.wake()
    return reply.code(202).send(await out(req.params.id))
  })
}
