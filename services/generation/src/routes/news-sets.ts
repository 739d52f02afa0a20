import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { MAX_SET_ITEMS, countJsonlLinesSliced, parseJsonlSliced } from '@sys2ft/dataset'
import { Page, ProblemError, toPage } from '@sys2ft/service-kit'
import { decodeUtf8StrictSliced, textBodyPieces } from '@sys2ft/service-kit/text'
import { ExportQuery, ImportBody, ImportResult, JsonlImportQuery, ListItemsQuery, ListSetsQuery, LmEvalExport, NewsItem, NewsSet, SetId } from '../schemas/news-sets.ts'
import { deleteSet, domainCounts, exportSet, getSet, importSet, listItems, listSets, setOut } from '../domain/news-sets.ts'
import { exportLmEval } from '../domain/lm-eval-export.ts'

const tags = ['news-sets']
const problems = { 400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' } }

/** News sets: the built-in New News set, the control set, and users' own sets in the same format. */
export async function newsSetsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  // JSONL uploads arrive as text (refused where the bytes are not UTF-8); they are parsed and validated
  // line by line by the dataset validator. Decoding, checking, counting, parsing and validating run in time
  // slices (a 64 MB body must not hold the other services of the process: issue 14, defect 2); they
  // read the text a decoded piece at a time (the whole string is never flattened into one copy).
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'buffer', bodyLimit: 64 * 1024 * 1024 }, async (req: object, body: Buffer) => {
    const { text, pieces } = await decodeUtf8StrictSliced(body)
    textBodyPieces.set(req, pieces)
    return text
  })

  app.post('/news-sets', {
    config: { idempotent: true },
    schema: {
      tags,
      summary: 'Import a news set (JSON body, or JSONL with ?name=)',
      description: 'Validated as a whole: any bad line or field answers 400 naming each one (at most 200 lines), and nothing is stored. Limits: 10,000 items, 64 MB. Send `application/json` with `{name, items: [...]}`, or `application/x-ndjson` with one item per line and the set\'s name in the query.',
      querystring: Type.Partial(JsonlImportQuery),
      // one body schema per content type: Fastify validates each and @fastify/swagger documents both
      body: { content: { 'application/json': { schema: ImportBody }, 'application/x-ndjson': { schema: Type.String({ description: 'One news item (or control question) per line.' }) } } } as unknown as typeof ImportBody,
      response: { 201: ImportResult, ...problems },
    },
  }, async (req, reply) => {
    let input
    if (typeof (req.body as unknown) === 'string') {
      const q = req.query
      if (!q.name) throw new ProblemError(400, 'validation_failed', 'a JSONL upload names its set in the query: ?name=', [{ path: '/querystring/name', message: 'is required' }])
      const text = textBodyPieces.get(req) ?? (req.body as unknown as string)
      const n = await countJsonlLinesSliced(text)
      if (n > MAX_SET_ITEMS) throw new ProblemError(400, 'validation_failed', `the upload has ${n} lines; a set holds at most ${MAX_SET_ITEMS} items`, [{ path: '/', message: `has ${n} lines (at most ${MAX_SET_ITEMS})` }])
      const lines = await parseJsonlSliced(text)
      input = { name: q.name, description: q.description ?? '', kind: q.kind ?? 'news', version: q.version ?? '1', lines }
    } else {
      const b = req.body
      input = { name: b.name, description: b.description, kind: b.kind, version: b.version, lines: b.items.map((value, i) => ({ line: i + 1, value })), pathPrefix: (line: number) => `/items/${line - 1}` }
    }
    const { set, warnings } = await importSet(app.db, input)
    reply.code(201).header('location', `/news-sets/${set.id}`)
    return { set: setOut(set, set.domains), warnings: warnings.map((w) => ({ path: w.path, message: w.message, ...(w.line !== undefined ? { line: w.line } : {}) })) }
  })

  app.get('/news-sets', { schema: { tags, summary: 'List news sets', querystring: ListSetsQuery, response: { 200: Page(NewsSet) } } }, async (req) => {
    const rows = await listSets(app.db, req.query)
    const page = toPage(rows, req.query.limit, (r) => r)
    const data = await Promise.all(page.data.map(async (s) => setOut(s, await domainCounts(app.db, s))))
    return { ...page, data }
  })

  app.get('/news-sets/:id', { schema: { tags, summary: 'Get a news set', params: SetId, response: { 200: NewsSet, 404: { $ref: 'Problem#' } } } }, async (req) => {
    const set = await getSet(app.db, req.params.id)
    return setOut(set, await domainCounts(app.db, set))
  })

  app.get('/news-sets/:id/items', { schema: { tags, summary: 'List a set’s news items with their questions', params: SetId, querystring: ListItemsQuery, response: { 200: Page(NewsItem), 404: { $ref: 'Problem#' } } } }, async (req) => {
    const set = await getSet(app.db, req.params.id)
    return listItems(app.db, set, req.query)
  })

  app.get('/news-sets/:id/export', {
    schema: {
      tags,
      summary: 'Export a set: JSONL in the import format, or lm-evaluation-harness tasks',
      description: '`format=lm-eval` answers JSON with the task files (YAML + JSONL, `multiple_choice`, for `lm_eval --apply_chat_template`): the product\'s exact prompt, answer prefix and choices, so lm-eval\'s per-question log-likelihoods are the eval run\'s. `./sys2ft lm-eval` writes and runs them.',
      params: SetId,
      querystring: ExportQuery,
      produces: ['application/x-ndjson', 'application/json'],
      response: { 200: LmEvalExport, 400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' } },
    },
  }, async (req, reply) => {
    const set = await getSet(app.db, req.params.id)
    const q = req.query
    if (q.format === 'lm-eval') return exportLmEval(app.db, set, { modes: q.modes, seed: q.seed, shuffle: q.shuffle, answerPrefix: q.answer_prefix, dir: q.dir })
    reply.header('content-type', 'application/x-ndjson; charset=utf-8').header('content-disposition', `attachment; filename="${set.name}.jsonl"`)
    return reply.send(Readable.from(exportSet(app.db, set)))
  })

  app.delete('/news-sets/:id', { schema: { tags, summary: 'Delete a user set (shipped sets are read-only)', params: SetId, response: { 204: Type.Null(), 404: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' } } } }, async (req, reply) => {
    await deleteSet(app.db, req.params.id)
    return reply.code(204).send(null)
  })
}
