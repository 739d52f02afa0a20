/**
 * Completes each operation's responses the way the service really answers, so that a client (or a
 * fuzzer checking every response against the document) meets no surprise:
 * - every 4xx/5xx body is problem+json (route schemas say `$ref: Problem` under whatever the route
 *   produces);
 * - secured operations answer 401; every operation may answer another problem (`default`: 413, 415,
 *   431, idempotency 409/422, 500, 503 while shutting down);
 * - routes that stream or export (SSE, JSONL, CSV, HTML) document their 200 in those types;
 * - a query parameter with a default is not required (the route schema lists it as a property with
 *   a default, which the generator reads as required).
 */
type Json = Record<string, any>

const PROBLEM = { $ref: '#/components/schemas/Problem' }
const problemContent = () => ({ 'application/problem+json': { schema: PROBLEM } })
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head']
// An SSE stream is described event by event (`event: <type>`, `data: <JSON text>`, `id: <n>`).
const SSE_EVENT = { type: 'object', properties: { event: { type: 'string' }, data: { type: 'string' }, id: { type: 'string' }, retry: { type: 'integer' } } }
const bodySchema = (type: string) => (type === 'application/json' ? {} : type === 'text/event-stream' ? SSE_EVENT : { type: 'string' })

export function completeResponses(doc: Json): Json {
  for (const item of Object.values<Json>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op: Json | undefined = item[method]
      if (!op) continue
      for (const p of op.parameters ?? []) if (p.in === 'query' && p.schema?.default !== undefined) p.required = false
      const responses: Json = (op.responses ??= {})
      const produced = new Set<string>()
      for (const [code, r] of Object.entries<Json>(responses)) {
        for (const type of Object.keys(r.content ?? {})) produced.add(type)
        if (/^[45]/.test(code)) r.content = problemContent()
      }
      if (!Object.keys(responses).some((c) => c.startsWith('2'))) {
        const types = [...produced].filter((t) => t !== 'application/json' || produced.size === 1)
        responses['200'] = { description: 'The body in the requested format', content: Object.fromEntries((types.length ? types : ['application/json']).map((t) => [t, { schema: bodySchema(t) }])) }
      }
      const secured = op.security === undefined ? (doc.security ?? []).length > 0 : op.security.length > 0
      if (secured) responses['401'] ??= { description: 'Missing or invalid bearer key', content: problemContent() }
      responses.default ??= { description: 'Any other problem (413, 415, 431, 500, 503, …)', content: problemContent() }
    }
  }
  return doc
}
