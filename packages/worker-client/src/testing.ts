import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
export const workerPython = path.join(repoRoot, 'infra/worker/.venv/bin/python')

export interface RunningWorker {
  url: string
  port: number
  adapterDir: string
  process: ChildProcess
  /** The worker's stderr so far (its logs), for failure messages. */
  logs(): string
  stop(signal?: NodeJS.Signals): Promise<void>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

/**
 * Starts the real worker process (infra/worker's venv) on a free port with the given model (the tiny
 * random Qwen2 by default, built once into .cache/models) and waits until it answers /healthz.
 */
export async function startWorker(opts: { model?: string; env?: Record<string, string>; adapterDir?: string; timeoutMs?: number; port?: number } = {}): Promise<RunningWorker> {
  if (!existsSync(workerPython)) throw new Error(`${workerPython} is missing: run ./sys2ft setup`)
  const port = opts.port ?? (await freePort())
  const adapterDir = opts.adapterDir ?? mkdtempSync(path.join(tmpdir(), 'sys2ft-adapters-'))
  let logs = ''
  const child = spawn(workerPython, ['-m', 'sys2ft_worker', '--model', opts.model ?? 'tiny-qwen2', '--port', String(port), '--adapter-dir', adapterDir, '--threads', '2'], {
    cwd: path.join(repoRoot, 'infra/worker'),
    env: { ...process.env, HF_HUB_OFFLINE: '1', SYS2FT_WORKER_DTYPE: 'float32', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout!.on('data', (d) => (logs += d))
  child.stderr!.on('data', (d) => (logs += d))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}:\n${logs}`)
    try {
      const res = await fetch(`${url}/healthz`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`worker did not come up in time:\n${logs}`)
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  return {
    url,
    port,
    adapterDir,
    process: child,
    logs: () => logs,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill(signal)
      }),
  }
}
