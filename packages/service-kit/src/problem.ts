import { Type, type Static } from 'typebox'

/** RFC 9457 problem details, with the conventions' machine `code` and the request id. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable machine code, e.g. validation_failed, not_found, conflict, worker_unavailable.' }),
    request_id: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String(), line: Type.Optional(Type.Integer()) }))),
  },
  { $id: 'Problem', title: 'Problem' },
)
export type ProblemBody = Static<typeof Problem>
export type FieldError = { path: string; message: string; line?: number }

const titles: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Content',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}

/** Throw one of these from a route; the error handler renders it as problem+json. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly errors?: FieldError[],
  ) {
    super(detail)
  }
  get title(): string {
    return titles[this.status] ?? 'Error'
  }
}

export const notFound = (what: string, id: string) => new ProblemError(404, 'not_found', `${what} ${id} does not exist`)
export const conflict = (detail: string) => new ProblemError(409, 'conflict', detail)
export const invalid = (errors: FieldError[], detail = 'the request is not valid') => new ProblemError(400, 'validation_failed', detail, errors)

export function problemBody(p: { status: number; code: string; detail: string; errors?: FieldError[] }, requestId: string): ProblemBody {
  return {
    type: `urn:sys2ft:problem:${p.code}`,
    title: titles[p.status] ?? 'Error',
    status: p.status,
    detail: p.detail,
    code: p.code,
    request_id: requestId,
    ...(p.errors ? { errors: p.errors } : {}),
  }
}
