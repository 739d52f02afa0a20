import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { RetryableError, type JobContext, type Sys2ftConfig } from '@sys2ft/service-kit'
import { bindValue, type CellPlan } from './cells.ts'
import { getCells, type CellRow, type ExperimentRow } from './experiments.ts'
import { Remote, RemoteError } from './remote.ts'
import { experimentResults } from './results.ts'

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])
/** How long the services may be unreachable before the experiment gives this attempt up. */
const UNREACHABLE_LIMIT_MS = 10 * 60_000

export interface ExperimentDeps {
  db: Kysely<Database>
  config: Sys2ftConfig
  pollMs?: number
}

/** What a cell stores: the request body to send (bindings filled from its dependencies) and its labels. */
export type CellSpec = Pick<CellPlan, 'body' | 'bind' | 'labels'>
/** What a cell keeps of its resource's progress: the resource's own counters, its adapter, and which retry it is on. */
export type CellProgress = { done?: number; total?: number; adapter_id?: string; generation?: number } & Record<string, unknown>

async function setCell(db: Kysely<Database>, e: string, key: string, values: Partial<{ state: CellRow['state']; resource_id: string | null; progress: string; error: string | null; started_at: Date; finished_at: Date }>) {
  await db.updateTable('experiment_cells').set({ ...values, updated_at: new Date() }).where('experiment_id', '=', e).where('key', '=', key).execute()
}

/**
 * Drives one experiment: creates each cell's resource once its dependencies have succeeded (with an
 * Idempotency-Key per cell), follows the resources until they end, and computes the results table.
 * Everything it knows is in the cells table, so a restart picks up where it stood: finished cells
 * are never redone, a cell created just before a crash is found again through its idempotency key.
 */
export async function runExperiment(deps: ExperimentDeps, exp: ExperimentRow, ctx: JobContext): Promise<void> {
  const { db } = deps
  const remote = new Remote(deps.config, exp.id)
  let unreachableSince: number | null = null
  for (;;) {
    if (ctx.signal.aborted) {
      if (ctx.reason() === 'cancelled') await cancelRunning(db, remote, exp.id)
      return
    }
    const cells = await getCells(db, exp.id)
    const byKey = new Map(cells.map((c) => [c.key, c]))
    try {
      for (const cell of cells) {
        if (TERMINAL.has(cell.state)) continue
        const spec = cell.spec
        if (cell.state === 'pending') {
          const deps = cell.depends_on.map((k) => byKey.get(k)!)
          const broken = deps.find((d) => d.state === 'failed' || d.state === 'cancelled')
          if (broken) {
            await setCell(db, exp.id, cell.key, { state: 'failed', error: `dependency ${broken.key} ${broken.state}`, finished_at: new Date() })
            continue
          }
          if (!deps.every((d) => d.state === 'succeeded')) continue
          let body = spec.body
          for (const b of spec.bind) {
            const from = byKey.get(b.from)!
            body = bindValue(body, b.path, b.field === 'resource_id' ? from.resource_id : from.progress.adapter_id)
          }
          const generation = cell.progress.generation ?? 0
          try {
            const id = await remote.create(cell.kind, body, `${exp.id}:${cell.key}:${generation}`)
            await setCell(db, exp.id, cell.key, { state: 'queued', resource_id: id, started_at: new Date() })
            await ctx.event('cell', `${cell.key} → ${id}`, { key: cell.key, resource_id: id })
          } catch (err) {
            if (!(err instanceof RemoteError) || !err.permanent) throw err
            await setCell(db, exp.id, cell.key, { state: 'failed', error: err.message, finished_at: new Date() })
            await ctx.event('cell', `${cell.key} failed: ${err.message}`, { key: cell.key })
          }
          continue
        }
        const s = await remote.get(cell.kind, cell.resource_id!)
        const progress = { ...cell.progress, ...s.progress, ...(s.adapter_id ? { adapter_id: s.adapter_id } : {}) }
        if (s.state !== cell.state || JSON.stringify(progress) !== JSON.stringify(cell.progress)) {
          await setCell(db, exp.id, cell.key, { state: s.state, progress: JSON.stringify(progress), error: s.error, ...(TERMINAL.has(s.state) ? { finished_at: new Date() } : {}) })
          if (TERMINAL.has(s.state)) await ctx.event('cell', `${cell.key} ${s.state}${s.error ? `: ${s.error}` : ''}`, { key: cell.key, state: s.state })
        }
      }
      unreachableSince = null
    } catch (err) {
      // a service restarting or briefly down: keep the experiment, try again on the next round
      if (err instanceof RemoteError && err.permanent) throw err
      unreachableSince ??= Date.now()
      if (Date.now() - unreachableSince > UNREACHABLE_LIMIT_MS) throw new RetryableError(`services unreachable for ${UNREACHABLE_LIMIT_MS / 60_000} min: ${(err as Error).message}`)
    }
    const now = await getCells(db, exp.id)
    await ctx.update({ progress_done: now.filter((c) => TERMINAL.has(c.state)).length })
    if (now.every((c) => TERMINAL.has(c.state))) {
      await ctx.update({ results: JSON.stringify(await experimentResults(db, now)) })
      const failed = now.filter((c) => c.state !== 'succeeded')
      if (failed.length) throw new Error(`${failed.length} of ${now.length} cells did not succeed: ${failed.slice(0, 5).map((c) => `${c.key} (${c.error ?? c.state})`).join('; ')}`)
      return
    }
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 2000))
  }
}

async function cancelRunning(db: Kysely<Database>, remote: Remote, expId: string) {
  for (const c of await getCells(db, expId)) {
    if (TERMINAL.has(c.state)) continue
    if (c.resource_id) await remote.cancel(c.kind, c.resource_id).catch(() => {})
    await setCell(db, expId, c.key, { state: 'cancelled', finished_at: new Date() })
  }
}
