// The three services, each as its own process (`node --import tsx services/<name>/src/main.ts`, as
// the compose file runs them), configured only by environment variables; each can be kill -9'd and
// started again on the same port. An exit nobody asked for is recorded: a service must never stop
// by itself (a database outage included).
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import path from 'node:path'
import { repoRoot } from '@sys2ft/worker-client/testing'

export const SERVICES = ['generation', 'training', 'evaluation'] as const
export type ServiceName = (typeof SERVICES)[number]

export interface ServiceProcess {
  name: ServiceName
  url: string
  /** Starts the process and waits until /healthz answers. */
  start(): Promise<void>
  /** SIGKILL, no warning, and waits for the exit. */
  kill(): Promise<void>
  /** SIGTERM (a clean stop: runs go back to the queue), and waits for the exit. */
  stop(): Promise<void>
  running(): boolean
}

export interface Stack {
  services: Record<ServiceName, ServiceProcess>
  /** Exits that were not asked for: `<service> exited with <code/signal>`. */
  unexpectedExits: string[]
  stop(): Promise<void>
}

export function serviceStack(opts: { env: Record<string, string>; ports: Record<ServiceName, number>; logFile: string }): Stack {
  const unexpectedExits: string[] = []
  const urls = Object.fromEntries(SERVICES.map((s) => [s, `http://127.0.0.1:${opts.ports[s]}`])) as Record<ServiceName, string>
  const env = {
    ...process.env,
    SYS2FT_HOST: '127.0.0.1',
    SYS2FT_GENERATION_PORT: String(opts.ports.generation),
    SYS2FT_TRAINING_PORT: String(opts.ports.training),
    SYS2FT_EVALUATION_PORT: String(opts.ports.evaluation),
    SYS2FT_GENERATION_URL: urls.generation,
    SYS2FT_TRAINING_URL: urls.training,
    SYS2FT_EVALUATION_URL: urls.evaluation,
    ...opts.env,
  }
  const log = (line: string) => appendFileSync(opts.logFile, line)

  const make = (name: ServiceName): ServiceProcess => {
    let child: ChildProcess | null = null
    let expectExit = false
    const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())))
    const end = async (signal: NodeJS.Signals) => {
      const p = child
      if (!p || p.exitCode !== null || p.signalCode !== null) return
      expectExit = true
      p.kill(signal)
      await exited(p)
    }
    return {
      name,
      url: urls[name],
      running: () => !!child && child.exitCode === null && child.signalCode === null,
      async start() {
        expectExit = false
        const p = spawn(process.execPath, ['--import', 'tsx', path.join('services', name, 'src', 'main.ts')], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
        child = p
        p.stdout!.on('data', (d) => log(`[${name} ${p.pid}] ${d}`))
        p.stderr!.on('data', (d) => log(`[${name} ${p.pid} err] ${d}`))
        p.once('exit', (code, signal) => {
          log(`[${name} ${p.pid}] exited ${code ?? signal}\n`)
          if (!expectExit) unexpectedExits.push(`${name} (pid ${p.pid}) exited with ${code ?? signal}`)
        })
        const deadline = Date.now() + 60_000
        for (;;) {
          if (p.exitCode !== null || p.signalCode !== null) throw new Error(`${name} exited at start (${p.exitCode ?? p.signalCode}); see ${opts.logFile}`)
          try {
            if ((await fetch(`${urls[name]}/healthz`)).ok) return
          } catch {
            // not listening yet
          }
          if (Date.now() > deadline) throw new Error(`${name} did not answer /healthz within 60 s; see ${opts.logFile}`)
          await new Promise((r) => setTimeout(r, 100))
        }
      },
      kill: () => end('SIGKILL'),
      stop: () => end('SIGTERM'),
    }
  }
  const services = Object.fromEntries(SERVICES.map((s) => [s, make(s)])) as Record<ServiceName, ServiceProcess>
  return {
    services,
    unexpectedExits,
    stop: async () => {
      await Promise.all(SERVICES.map((s) => services[s].stop()))
    },
  }
}
