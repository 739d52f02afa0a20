import { createServer, request, type Server } from 'node:http'

export interface CountingProxy {
  url: string
  /** Requests seen per "METHOD path". */
  counts: Map<string, number>
  /** Sizes (number of requests in the body's `requests` array) of each POST /v1/generate. */
  generateBatchSizes: number[]
  close(): Promise<void>
}

/** A pass-through HTTP proxy in front of the worker that counts what the service sends it. */
export async function countingProxy(target: string): Promise<CountingProxy> {
  const counts = new Map<string, number>()
  const generateBatchSizes: number[] = []
  const t = new URL(target)
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const key = `${req.method} ${req.url}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
      if (key === 'POST /v1/generate') generateBatchSizes.push((JSON.parse(body.toString()) as { requests: unknown[] }).requests.length)
      const up = request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      })
      up.on('error', () => res.writeHead(502).end())
      up.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    counts,
    generateBatchSizes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
