import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ReportQuery, Report } from '../schemas/reports.ts'
import { buildReport, reportRunIds } from '../domain/report.ts'
import { renderCsv } from '../report/csv.ts'
import { renderHtml } from '../report/html.ts'

const problem = { $ref: 'Problem#' }

/** Reports over evaluation runs: JSON, CSV, or a self-contained HTML page with tables and charts. */
export async function reportsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/reports', {
    schema: {
      tags: ['reports'],
      summary: 'Compare evaluation runs (JSON, CSV or HTML)',
      description: 'Accuracy per run overall, per domain and per question type with 95% bootstrap intervals and chance; the FT-ICL gap, the fraction of the gap closed, overexposure and forgetting from paired bootstraps over shared questions. `format=html` is a page with a table per domain and charts (Chart.js inlined).',
      querystring: ReportQuery,
      produces: ['application/json', 'text/csv', 'text/html'],
      response: { 200: Report, 400: problem },
    },
  }, async (req, reply) => {
    const report = await buildReport(app.db, await reportRunIds(app.db, req.query.runs))
    if (req.query.format === 'csv') {
      // the 200 schema describes the JSON form; the other formats are sent as text, past the serializer
      return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="sys2ft-report.csv"').serializer((s: string) => s).send(renderCsv(report))
    }
    if (req.query.format === 'html') return reply.type('text/html; charset=utf-8').serializer((s: string) => s).send(renderHtml(report))
    return report
  })
}
