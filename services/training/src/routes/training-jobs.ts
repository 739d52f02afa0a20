import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { CANCEL_RULE, Page, isTerminalState, listEvents, streamJob, toPage } from '@sys2ft/service-kit'
import { CreateJobBody, JobEvent, JobId, ListEventsQuery, ListJobsQuery, TrainingJob } from '../schemas/training-jobs.ts'
import { cancelJob, createJob, getJob, jobOut, listJobEvents, listJobs, resumeJob } from '../domain/training-jobs.ts'

const tags = ['training-jobs']
const problem = { $ref: 'Problem#' }

/** LoRA training jobs: created queued, dispatched to a worker, followed to the end. */
export async function trainingJobsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.post('/training-jobs', {
    config: { idempotent: true },
    schema: {
      tags,
      summary: 'Create a training job (202: queued)',
      description:
        'Validates everything first — each data source (a succeeded generation run, or a news set for naive fine-tuning), the mix, the hyperparameters (the worker’s ranges), and that a registered worker serves `base_model` — and answers 4xx naming every failing field, storing nothing. The examples are then fixed: their counts per source are on the job (`data.resolved`) and their hash in `data_sha256`. States: queued → dispatched → running → succeeded | failed | cancelled. Compute is accounted on the job: FLOPs ≈ 6·N·D with N the base model’s total parameters (plus LoRA) and D the tokens trained.',
      body: CreateJobBody,
      response: { 202: TrainingJob, 400: problem, 409: problem },
    },
  }, async (req, reply) => {
    const job = await createJob(app.db, req.body, { maxAttempts: app.training.settings.maxAttempts })
    app.training.wake()
    return reply.code(202).header('location', `/training-jobs/${job.id}`).send(jobOut(job))
  })

  app.get('/training-jobs', { schema: { tags, summary: 'List training jobs', querystring: ListJobsQuery, response: { 200: Page(TrainingJob), 400: problem } } }, async (req) => {
    return toPage(await listJobs(app.db, req.query), req.query.limit, jobOut)
  })

  app.get('/training-jobs/:id', { schema: { tags, summary: 'Get a training job: state, progress, compute', params: JobId, response: { 200: TrainingJob, 404: problem } } }, async (req) => {
    return jobOut(await getJob(app.db, req.params.id))
  })

  app.delete('/training-jobs/:id', {
    schema: {
      tags,
      summary: 'Cancel a training job',
      description: `A queued job is cancelled at once. A dispatched or running one answers with \`cancel_requested: true\`; its training is cancelled on the worker and the job becomes \`cancelled\` when the worker confirms (or \`succeeded\`, if the training finished first). ${CANCEL_RULE}`,
      params: JobId,
      response: { 202: TrainingJob, 404: problem, 409: problem },
    },
  }, async (req, reply) => {
    const job = await cancelJob(app.db, req.params.id)
    app.training.wake()
    return reply.code(202).send(jobOut(job))
  })

  app.post('/training-jobs/:id/resume', {
    schema: { tags, summary: 'Resume a failed or cancelled job (202: queued again)', description: 'Its attempts start again from zero. A LoRA training keeps no checkpoint, so it trains again from the start on the same examples.', params: JobId, response: { 202: TrainingJob, 404: problem, 409: problem } },
  }, async (req, reply) => {
    const job = await resumeJob(app.db, req.params.id)
    app.training.wake()
    return reply.code(202).header('location', `/training-jobs/${job.id}`).send(jobOut(job))
  })

  app.get('/training-jobs/:id/events', {
    schema: { tags, summary: 'A job’s events: state changes with their reasons, and the loss curve (`type=loss`)', params: JobId, querystring: ListEventsQuery, response: { 200: Page(JobEvent), 404: problem } },
  }, async (req) => {
    const job = await getJob(app.db, req.params.id)
    return listJobEvents(app.db, job.id, req.query)
  })

  app.get('/training-jobs/:id/stream', {
    schema: {
      tags,
      summary: 'Live progress (Server-Sent Events)',
      description: '`snapshot` (the job), then each event as it is written (`state`, `loss`, …) with a fresh `snapshot` after each batch, and `end` with the final job once it is succeeded, failed or cancelled; then the stream closes. `Last-Event-ID` resumes after an event.',
      params: JobId,
      produces: ['text/event-stream'],
      response: { 404: problem },
    },
  }, async (req, reply) => {
    const job = await getJob(app.db, req.params.id)
    await streamJob(req, reply, {
      snapshot: async () => jobOut(await getJob(app.db, job.id)),
      events: (after) => listEvents(app.db, 'training_jobs', job.id, after),
      isTerminal: (j) => isTerminalState(j.state),
    })
  })
}
