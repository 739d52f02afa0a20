import cliProgress from 'cli-progress'
import type { Experiment, ExperimentsApi } from './api.ts'

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])

const clock = (s: number | null) => {
  if (s === null || !Number.isFinite(s)) return '?'
  const m = Math.floor(s / 60)
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`
}

/** What is running now, in a few words: `training self_qa n=8 (step 12/40)`. */
export function activity(e: Experiment): string {
  const running = e.cells.filter((c) => c.state === 'running')
  if (running.length === 0) return e.cells.some((c) => c.state === 'queued') ? 'waiting for a worker' : e.state
  return running
    .slice(0, 2)
    .map((c) => {
      const what = c.key.split(':').slice(0, 3).join(' ')
      const p = c.progress
      return p.total ? `${what} (${p.done ?? 0}/${p.total})` : what
    })
    .join('; ')
}

/**
 * Follows an experiment until it ends: a live progress bar on a terminal (cells done / total, what
 * runs now, elapsed and the service's estimate of the time left); a line every `logEveryS` seconds
 * otherwise (CI logs). Resolves with the final experiment.
 */
export async function follow(api: ExperimentsApi, id: string, opts: { intervalMs?: number; logEveryS?: number; out?: NodeJS.WriteStream } = {}): Promise<Experiment> {
  const out = opts.out ?? process.stderr
  const tty = Boolean(out.isTTY)
  const bar = tty
    ? new cliProgress.SingleBar({ stream: out, format: ' {bar} {value}/{total} cells | {elapsed} elapsed, ~{remaining} left | {activity}', hideCursor: true, barsize: 24 }, cliProgress.Presets.shades_classic)
    : null
  let lastLog = 0
  let e = await api.get(id)
  bar?.start(e.progress.total, e.progress.done, { activity: activity(e), elapsed: clock(e.estimate.elapsed_s), remaining: clock(e.estimate.remaining_s) })
  for (;;) {
    const payload = { activity: activity(e), elapsed: clock(e.estimate.elapsed_s), remaining: clock(e.estimate.remaining_s) }
    if (bar) {
      bar.setTotal(e.progress.total)
      bar.update(e.progress.done, payload)
    } else if (Date.now() - lastLog > (opts.logEveryS ?? 30) * 1000 || TERMINAL.has(e.state)) {
      out.write(`[${e.id}] ${e.state}: ${e.progress.done}/${e.progress.total} cells, ${payload.elapsed} elapsed, ~${payload.remaining} left; ${payload.activity}\n`)
      lastLog = Date.now()
    }
    if (TERMINAL.has(e.state)) break
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 2000))
    e = await api.get(id)
  }
  bar?.stop()
  return e
}
