import type { FastifyReply, FastifyRequest } from 'fastify'
import type { JobEvent } from './events.ts'

export interface StreamOptions<S> {
  /** The resource as GET shows it. */
  snapshot: () => Promise<S>
  /** Events after an id (the events table). */
  events: (afterId: string) => Promise<JobEvent[]>
  isTerminal: (s: S) => boolean
  pollMs?: number
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])
export const isTerminalState = (state: string) => TERMINAL.has(state)

/**
 * Server-Sent Events for a job: the current resource first (`event: snapshot`), then each new
 * event row as it is written, a fresh snapshot after each batch, and a last snapshot when the job
 * reaches a terminal state, after which the stream ends. `Last-Event-ID` resumes after an event.
 */
export async function streamJob<S>(req: FastifyRequest, reply: FastifyReply, opts: StreamOptions<S>): Promise<void> {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-request-id': req.id, 'x-accel-buffering': 'no' })
  let closed = false
  req.raw.on('close', () => (closed = true))
  const send = (event: string, data: unknown, id?: string) => {
    if (!closed) res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }
  let after = typeof req.headers['last-event-id'] === 'string' ? req.headers['last-event-id'] : '0'
  let snap = await opts.snapshot()
  send('snapshot', snap)
  let lastBeat = Date.now()
  while (!closed && !opts.isTerminal(snap)) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500))
    const events = await opts.events(after)
    for (const e of events) {
      send(e.type, e, e.id)
      after = e.id
    }
    if (events.length > 0) {
      snap = await opts.snapshot()
      send('snapshot', snap)
    } else if (Date.now() - lastBeat > 15_000) {
      if (!closed) res.write(': keep-alive\n\n')
      lastBeat = Date.now()
      snap = await opts.snapshot()
    }
  }
  if (!closed) {
    send('end', snap)
    res.end()
  }
}
