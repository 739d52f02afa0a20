import type { WaitNote } from './client.ts'

const minutes = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 60_000).toFixed(1)} min`)

/**
 * Turns a long call's probes (CallOptions.onWait) into notes a person reads in a run's events: one
 * once the call has waited `everyMs`, then one per `everyMs`, and one at once when the worker stops
 * answering /healthz (a hung worker was silent for up to 30 minutes before). One instance serves a
 * run's successive calls: a note with a smaller elapsed time starts a new call. `record` must not throw.
 */
export function waitNotices(record: (message: string, note: WaitNote) => void, everyMs = 60_000): (note: WaitNote) => void {
  let next = everyMs
  let silentTold = false
  let last = 0
  return (note) => {
    if (note.elapsedMs < last) {
      next = everyMs
      silentTold = false
    }
    last = note.elapsedMs
    if (!note.healthy && !silentTold) {
      silentTold = true
      record(`the worker did not answer /healthz (${minutes(note.elapsedMs)} into this batch); it is given up after a few more silent probes`, note)
      return
    }
    if (note.healthy) silentTold = false
    if (note.elapsedMs < next) return
    next = note.elapsedMs + everyMs
    record(`waiting on the worker: ${minutes(note.elapsedMs)} into this batch (${note.healthy ? 'it answers /healthz, so it is working' : `no answer to /healthz for ${note.silentProbes} probes`})`, note)
  }
}
