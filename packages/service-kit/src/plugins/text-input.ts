import type { FastifyInstance, FastifyRequest } from 'fastify'
import { invalid, type FieldError } from '../problem.ts'
import { decodeUtf8Strict, textBodyPieces, unstorableFields, unstorableFieldsSliced } from '../text.ts'

/**
 * Text the database cannot hold is refused at the door, naming the field: invalid UTF-8 in a JSON body
 * or a query string (today's decoders would store U+FFFD), NUL characters and lone surrogates anywhere
 * in the query, path or body (Postgres refuses them, which used to surface as a 500).
 */
export async function textInputPlugin(app: FastifyInstance): Promise<void> {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string
    try {
      text = decodeUtf8Strict(body as Buffer)
    } catch (err) {
      done(err as Error, undefined)
      return
    }
    parseJson(req, text, done)
  })

  app.addHook('onRequest', async (req) => refuse(queryEncodingErrors(req)))
  // a long text body (a JSONL upload) is checked in time slices, a piece at a time, the event loop let through between them
  app.addHook('preValidation', async (req) => refuse([...unstorableFields(req.params, '/params'), ...unstorableFields(req.query, '/querystring'), ...(await unstorableFieldsSliced(req.body, '', 20, textBodyPieces.get(req)))]))
}

function refuse(errors: FieldError[]): void {
  if (errors.length > 0) throw invalid(errors, `invalid request: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`)
}

/** Percent-encoded bytes of the query that are not UTF-8 (decodeURIComponent refuses what the query parser would turn into U+FFFD). */
function queryEncodingErrors(req: FastifyRequest): FieldError[] {
  const q = req.url.indexOf('?')
  if (q < 0) return []
  const out: FieldError[] = []
  for (const pair of req.url.slice(q + 1).split('&')) {
    const [rawKey = '', ...rest] = pair.split('=')
    const key = safeDecode(rawKey)
    if (key === undefined || safeDecode(rest.join('=')) === undefined) out.push({ path: `/querystring/${key ?? rawKey}`, message: 'is not valid percent-encoded UTF-8' })
  }
  return out
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '))
  } catch {
    return undefined
  }
}
