/**
 * Long synchronous work cut into time slices, the event loop let through between them: the three
 * services can share one process (`./sys2ft stack`), so a request that computes for a second would
 * hold every other service's requests (and /healthz) for that second.
 *
 * The work is written once, as a generator that yields at safe points; `runSliced` runs it with a
 * pause whenever a slice has used its budget, `runToEnd` runs the same steps without pausing (for
 * callers that are synchronous: the dataset CLI, tests).
 */

/** How long one slice may hold the event loop before it lets other work in. */
export const SLICE_MS = 10

export class TimeSlicer {
  private start = performance.now()
  constructor(readonly budgetMs = SLICE_MS) {}

  /** Lets the event loop through (timers, I/O: other requests) when this slice has used its budget. */
  async tick(): Promise<void> {
    if (performance.now() - this.start < this.budgetMs) return
    await new Promise<void>((resolve) => setImmediate(resolve))
    this.start = performance.now()
  }
}

/** Runs the steps to their result, pausing whenever a slice has used its budget. */
export async function runSliced<T>(steps: Generator<unknown, T>, slicer = new TimeSlicer()): Promise<T> {
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
    await slicer.tick()
  }
}

/** Runs the same steps synchronously, without pausing. */
export function runToEnd<T>(steps: Generator<unknown, T>): T {
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
  }
}
