import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANCEL_RULE, Page, isTerminalState, listEvents, requestCancel, streamJob, toPage } from '@sys2ft/service-kit'
import { ServedModel } from '@sys2ft/worker-client'
import { CreateEvalRun, EvalResult, EvalRun, EventsQuery, ListRunsQuery, ResultsQuery, RunEvent, RunId } from '../schemas/eval-runs.ts'
import { createRun, currentSummary, getRun, listRuns, resumeRun, runOut } from '../domain/runs.ts'
import { listResults } from '../domain/results.ts'
import { serviceInfo } from '../info.ts'
import { modelCheck } from '../plugins/eval-runner.ts'

const tags = ['eval-runs']
const problem = { $ref: 'Problem#' }

/** Evaluation runs: create (asynchronous), read with the summary, results, events, live stream, cancel, resume. */
export async function evalRunsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const servedModel = new ServedModel()
  const out = async (id: string) => {
    const run = await getRun(app.db, id)
    return runOut(run, await currentSummary(app.db, run))
  }

  app.post('/eval-runs', {
    config: { idempotent: true },
    schema: {
      tags,
      summary: 'Start an evaluation run',
      description: 'Checks the set, adapter, model (against the worker’s, when it answers), filter and options (400 naming each bad field; nothing is stored), stores the run queued and answers 202 with it. Progress: GET the run, or follow `/eval-runs/{id}/stream`.',
      body: CreateEvalRun,
      response: { 202: EvalRun, 400: problem, 409: problem, 422: problem },
    },
  }, async (req, reply) => {
    const checkModel = modelCheck(app, servedModel)
    const workerUrl = app.config.ray ? `${app.config.ray.poolUrl}/v1/pool` : app.config.urls.worker
    const run = await createRun(app.db, req.body, { workerUrl, service: serviceInfo, checkModel })
    app.evalRunner.wake()
    reply.code(202).header('location', `/eval-runs/${run.id}`)
    return runOut(run, null)
  })

  app.get('/eval-runs', { schema: { tags, summary: 'List evaluation runs', querystring: ListRunsQuery, response: { 200: Page(EvalRun), 400: problem } } }, async (req) => {
    const rows = await listRuns(app.db, req.query)
    // list entries carry the stored summary only (a finished run's); GET a run for a live one
    return toPage(rows, req.query.limit, (r) => runOut(r, r.summary && !(r.summary as { partial?: boolean }).partial ? (r.summary as never) : null))
  })

  app.get('/eval-runs/:id', { schema: { tags, summary: 'Get an evaluation run with its summary', params: RunId, response: { 200: EvalRun, 404: problem } } }, async (req) => out(req.params.id))

  app.get('/eval-runs/:id/results', {
    schema: { tags, summary: 'Per-question results of a run', description: 'Ordered by question id; filter by domain, type, correct, parsed.', params: RunId, querystring: ResultsQuery, response: { 200: Page(EvalResult), 400: problem, 404: problem } },
  }, async (req) => {
    const run = await getRun(app.db, req.params.id)
    return listResults(app.db, run.id, req.query)
  })

  app.get('/eval-runs/:id/events', { schema: { tags, summary: 'A run’s state changes and progress notes', params: RunId, querystring: EventsQuery, response: { 200: Type.Object({ data: Type.Array(RunEvent) }), 404: problem } } }, async (req) => {
    const run = await getRun(app.db, req.params.id)
    return { data: await listEvents(app.db, 'eval_runs', run.id, req.query.after ?? '0', req.query.limit) }
  })

  app.get('/eval-runs/:id/stream', {
    schema: { tags, summary: 'Live progress (Server-Sent Events)', description: '`snapshot` (the run), then each event as it happens, a fresh snapshot after each, and `end` with the final run. `Last-Event-ID` resumes.', params: RunId, produces: ['text/event-stream'], response: { 404: problem } },
  }, async (req, reply) => {
    const run = await getRun(app.db, req.params.id)
    await streamJob(req, reply, { snapshot: () => out(run.id), events: (after) => listEvents(app.db, 'eval_runs', run.id, after), isTerminal: (s) => isTerminalState(s.state), pollMs: 250 })
  })

  app.delete('/eval-runs/:id', {
    schema: { tags, summary: 'Cancel a run', description: `A queued run is cancelled at once; a running one stops within a lease renewal, keeping the results it wrote (resume continues from them). ${CANCEL_RULE}`, params: RunId, response: { 202: EvalRun, 404: problem, 409: problem } },
  }, async (req, reply) => {
    const run = await getRun(app.db, req.params.id)
    await requestCancel(app.db, 'eval_runs', run.id, { what: 'eval run' })
    return reply.code(202).send(await out(run.id))
  })

  app.post('/eval-runs/:id/resume', {
    schema: { tags, summary: 'Resume a failed or cancelled run', description: 'Continues where the run stopped: questions already scored are kept and never scored twice. 409 for a queued, running or succeeded run.', params: RunId, response: { 202: EvalRun, 404: problem, 409: problem } },
  }, async (req, reply) => {
    const run = await resumeRun(app.db, req.params.id)
    app.evalRunner.wake()
    reply.code(202).header('location', `/eval-runs/${run.id}`)
    return runOut(run, await currentSummary(app.db, run))
  })
}
