import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ProblemError, problemBody, type FieldError } from '../problem.ts'

interface AjvError {
  instancePath: string
  message?: string
  keyword: string
  params: Record<string, unknown>
}

/** Ajv's errors as JSON-pointer paths naming the field: a missing or unknown field is named itself. */
export function fieldErrors(validation: AjvError[], context?: string): FieldError[] {
  const prefix = context && context !== 'body' ? `/${context}` : ''
  const seen = new Set<string>()
  const out: FieldError[] = []
  for (const v of validation) {
    let path = v.instancePath
    let message = v.message ?? 'is invalid'
    if (v.keyword === 'required') {
      path += `/${String(v.params.missingProperty)}`
      message = 'is required'
    }
    if (v.keyword === 'additionalProperties') {
      path += `/${String(v.params.additionalProperty)}`
      message = 'is not a known field'
    }
    const full = prefix + (path || '')
    const key = `${full}|${message}`
    // anyOf/oneOf branches repeat themselves; one line per field and message is enough
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ path: full || '/', message })
  }
  return out
}

const fastifyCodes: Record<string, { code: string; detail: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', detail: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', detail: 'the body is empty but Content-Type is application/json' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', detail: 'unsupported Content-Type' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', detail: 'the body is too large' },
}

/**
 * One error shape for the whole service: problem+json with a stable code. 4xx answers carry the real
 * reason; 5xx answers are logged in full and answered generically.
 */
export async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    let body
    if (err instanceof ProblemError) {
      body = problemBody({ status: err.status, code: err.code, detail: err.message, ...(err.errors ? { errors: err.errors } : {}) }, req.id)
      if (err.status >= 500) req.log.error({ err }, 'request failed')
    } else if (err.validation) {
      const errors = fieldErrors(err.validation as AjvError[], err.validationContext)
      body = problemBody({ status: 400, code: 'validation_failed', detail: `invalid request: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, errors }, req.id)
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      const known = fastifyCodes[err.code]
      body = problemBody({ status: err.statusCode, code: known?.code ?? 'bad_request', detail: known?.detail ?? err.message }, req.id)
    } else {
      req.log.error({ err }, 'unhandled error')
      body = problemBody({ status: 500, code: 'internal', detail: 'internal error; the request id identifies it in the logs' }, req.id)
    }
    return reply.code(body.status).type('application/problem+json').send(body)
  })

  app.setNotFoundHandler((req, reply) => {
    const body = problemBody({ status: 404, code: 'not_found', detail: `no route ${req.method} ${req.url.split('?')[0]}` }, req.id)
    return reply.code(404).type('application/problem+json').send(body)
  })
}

/** The router's own 400s (a malformed URL, say) in the same problem+json shape. */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const body = problemBody({ status: 400, code: 'bad_request', detail: err.message }, req.id)
  void reply.code(400).type('application/problem+json').send(body)
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (headers too large: 431, a malformed
 * request line: 400), answered as problem+json on the raw socket.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW'
  const p = problemBody(tooLarge
    ? { status: 431, code: 'headers_too_large', detail: 'the request headers are too large' }
    : { status: 400, code: 'bad_request', detail: 'the request could not be parsed' }, randomUUID())
  const body = JSON.stringify(p)
  socket.end(`HTTP/1.1 ${p.status} ${p.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}
