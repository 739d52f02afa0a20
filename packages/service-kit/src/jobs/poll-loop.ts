/**
 * A background loop that runs `tick` one at a time: after each tick it waits `nextMs()` (read after
 * the tick, so a tick may shorten its own wait); `wake()` asks for a tick now, folded into a
 * follow-up tick when one is running. Used by the job queue and the training dispatcher.
 */
export class PollLoop {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private again = false
  private active = false

  constructor(
    private readonly tick: () => Promise<void>,
    private readonly nextMs: () => number,
  ) {}

  get stopped(): boolean {
    return !this.active
  }

  start(): void {
    this.active = true
    this.schedule(0)
  }

  wake(): void {
    if (this.active) this.schedule(0)
  }

  /** Stops scheduling and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.active = false
    if (this.timer) clearTimeout(this.timer)
    await this.running
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      if (this.running) {
        this.again = true
        return
      }
      this.running = this.tick().finally(() => {
        this.running = null
        const soon = this.again
        this.again = false
        if (this.active) this.schedule(soon ? 0 : this.nextMs())
      })
    }, ms)
  }
}
