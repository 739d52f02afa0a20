import { WorkerClient } from './client.ts'

/**
 * Which model a worker serves, so a run naming another is refused when it is created (400 naming the
 * field) rather than failing later on the worker. A worker serves one model; the answer is kept a few
 * seconds per URL so a burst of POSTs asks once. A worker that does not answer is not a reason to
 * refuse: the run is queued and waits for it, as before.
 */
export class ServedModel {
  private readonly cache = new Map<string, { at: number; model: string | undefined }>()

  constructor(private readonly ttlMs = 5_000) {}

  async of(baseURL: string, apiKey?: string): Promise<string | undefined> {
    const hit = this.cache.get(baseURL)
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.model
    let model: string | undefined
    try {
      model = (await new WorkerClient({ baseURL, apiKey, retries: 0, timeouts: { info: 2_000 } }).info()).model.id
    } catch {
      model = undefined
    }
    this.cache.set(baseURL, { at: Date.now(), model })
    return model
  }

  /** The field error for `model`, or undefined when the worker serves it or cannot be asked. */
  async check(model: string, baseURL: string, apiKey?: string): Promise<string | undefined> {
    const served = await this.of(baseURL, apiKey)
    return served === undefined || served === model ? undefined : `the worker at ${baseURL} serves ${served}, not ${model}`
  }
}
