import axios, { AxiosError, type AxiosInstance, type AxiosRequestConfig } from 'axios'
import axiosRetry, { isNetworkError } from 'axios-retry'
import type { AdapterManifest, GenerateRequest, GenerateResponse, ScoreRequest, ScoreResponse, TrainingRequest, TrainingStatus, WorkerInfo, WorkerProblem } from './types.ts'

/** Every failure of a worker call: the worker's own problem (status, code, message) or the transport's. */
export class WorkerError extends Error {
  override name = 'WorkerError'
  constructor(
    message: string,
    /** HTTP status, or null when no answer came (connection refused, timeout). */
    readonly status: number | null,
    /** The worker's machine code (`unknown_adapter`, `conflict`, …) or `worker_unavailable` / `worker_timeout` / `worker_hung` / `aborted` (the caller's signal). */
    readonly code: string,
    readonly problem?: WorkerProblem,
    /** The transport's error code when no answer came (`ECONNREFUSED`, `ECONNRESET`, …). */
    readonly transport?: string,
  ) {
    super(message)
  }
  /** Nothing listens at the worker's address: its process is gone (and its trainings with it, which die with their worker). */
  get refused(): boolean {
    return this.transport === 'ECONNREFUSED'
  }
  /** True when the worker could not be reached at all (worth trying again later, or elsewhere). */
  get unavailable(): boolean {
    if (this.code === 'aborted') return false
    return this.status === null || this.status === 502 || this.status === 503 || this.status === 504
  }
}

export interface WorkerClientOptions {
  baseURL: string
  apiKey?: string | undefined
  /** Forwarded as x-request-id. */
  requestId?: string | undefined
  /** Per call type, in ms. Model calls can take minutes on a CPU. */
  timeouts?: Partial<Record<'info' | 'generate' | 'score' | 'training', number>>
  /** Retries for safe calls on connection errors and 502/503/504 (exponential backoff). */
  retries?: number
  retryDelayMs?: number
  /**
   * How a long model call is watched (generate, score): every `probeMs` the worker's /healthz is
   * asked (an answer within `probeTimeoutMs` counts); after `probes` silent probes in a row the worker is
   * hung (stopped, deadlocked, its host gone) and the call is abandoned as `worker_hung`, an
   * unavailable worker, instead of waiting out the call's timeout (30 min). A worker that is only slow
   * keeps answering /healthz and the call goes on.
   */
  hang?: { probeMs?: number; probes?: number; probeTimeoutMs?: number }
}

/** What a long model call reports to its caller at each probe. */
export interface WaitNote {
  elapsedMs: number
  /** Whether the worker answered this probe of /healthz. */
  healthy: boolean
  /** Probes in a row it did not answer. */
  silentProbes: number
}

export interface CallOptions {
  /** Aborting it closes the request; the worker sees the disconnect and stops the batch within a step. */
  signal?: AbortSignal | undefined
  /** Told at each probe while the call waits (see `hang`). */
  onWait?: ((note: WaitNote) => void) | undefined
}

const defaultTimeouts = { info: 10_000, generate: 30 * 60_000, score: 30 * 60_000, training: 60_000 }
const defaultHang = { probeMs: 15_000, probes: 4, probeTimeoutMs: 5_000 }

// Calls that may be sent again without changing the outcome: reads, deletes, and the worker's pure
// model calls (generate/score change no state). Starting a training is retried only with a
// client-chosen training_id, which makes a repeat return the same training.
const SAFE = Symbol('safe')
type Config = AxiosRequestConfig & { [SAFE]?: boolean }

/** A typed client for the model worker (see infra/worker), shared by the three services. */
export class WorkerClient {
  readonly http: AxiosInstance
  private readonly timeouts: typeof defaultTimeouts

  constructor(readonly options: WorkerClientOptions) {
    this.timeouts = { ...defaultTimeouts, ...options.timeouts }
    const headers: Record<string, string> = {}
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`
    if (options.requestId) headers['x-request-id'] = options.requestId
    this.http = axios.create({ baseURL: options.baseURL, headers, maxBodyLength: Infinity, maxContentLength: Infinity })
    const base = options.retryDelayMs ?? 250
    axiosRetry(this.http, {
      retries: options.retries ?? 3,
      retryDelay: (n) => base * 2 ** (n - 1) * (0.8 + Math.random() * 0.4),
      shouldResetTimeout: true,
      retryCondition: (err) => {
        const cfg = err.config as Config | undefined
        if (!cfg?.[SAFE] || axios.isCancel(err)) return false
        const status = err.response?.status
        return isNetworkError(err) || err.code === 'ECONNRESET' || status === 502 || status === 503 || status === 504
      },
    })
  }

  /** A client for the same worker acting for another request (its id forwarded). */
  withRequestId(requestId: string): WorkerClient {
    return new WorkerClient({ ...this.options, requestId })
  }

  /**
   * A model call watched by /healthz probes (see `hang`): the probes run beside it, and a worker silent
   * for `probes` in a row aborts it with `worker_hung`. The caller's signal still aborts it at once.
   */
  private async watched<T>(config: Config, opts: CallOptions): Promise<T> {
    const { probeMs, probes, probeTimeoutMs } = { ...defaultHang, ...this.options.hang }
    const abandon = new AbortController()
    const signal = opts.signal ? AbortSignal.any([opts.signal, abandon.signal]) : abandon.signal
    const started = Date.now()
    let silent = 0
    let timer: NodeJS.Timeout | undefined
    let done = false
    const probe = async () => {
      const healthy = await this.http.get('/healthz', { timeout: probeTimeoutMs }).then(() => true, () => false)
      if (done) return
      silent = healthy ? 0 : silent + 1
      opts.onWait?.({ elapsedMs: Date.now() - started, healthy, silentProbes: silent })
      if (silent >= probes) abandon.abort()
      else timer = setTimeout(probe, probeMs)
    }
    timer = setTimeout(probe, probeMs)
    try {
      return await this.call<T>({ ...config, signal })
    } catch (err) {
      if (abandon.signal.aborted && !opts.signal?.aborted) {
        throw new WorkerError(`worker ${config.method} ${config.url}: hung (no answer to /healthz for ${probes} probes, ${Math.round((Date.now() - started) / 1000)} s into the call)`, null, 'worker_hung')
      }
      throw err
    } finally {
      done = true
      clearTimeout(timer)
    }
  }

  private async call<T>(config: Config): Promise<T> {
    try {
      const res = await this.http.request<T>(config)
      return res.data
    } catch (err) {
      throw toWorkerError(err, config)
    }
  }

  health(): Promise<{ status: string }> {
    return this.call({ method: 'GET', url: '/healthz', timeout: this.timeouts.info, [SAFE]: true })
  }
  info(): Promise<WorkerInfo> {
    return this.call({ method: 'GET', url: '/v1/info', timeout: this.timeouts.info, [SAFE]: true })
  }
  /** One batched call: the worker groups and batches the requests inside its engine (see CallOptions). */
  generate(body: GenerateRequest, opts: CallOptions = {}): Promise<GenerateResponse> {
    return this.watched({ method: 'POST', url: '/v1/generate', data: body, timeout: this.timeouts.generate, [SAFE]: true }, opts)
  }
  score(body: ScoreRequest, opts: CallOptions = {}): Promise<ScoreResponse> {
    return this.watched({ method: 'POST', url: '/v1/score', data: body, timeout: this.timeouts.score, [SAFE]: true }, opts)
  }
  startTraining(body: TrainingRequest): Promise<TrainingStatus> {
    return this.call({ method: 'POST', url: '/v1/trainings', data: body, timeout: this.timeouts.training, [SAFE]: body.training_id !== undefined })
  }
  training(id: string): Promise<TrainingStatus> {
    return this.call({ method: 'GET', url: `/v1/trainings/${encodeURIComponent(id)}`, timeout: this.timeouts.info, [SAFE]: true })
  }
  trainings(): Promise<{ data: TrainingStatus[] }> {
    return this.call({ method: 'GET', url: '/v1/trainings', timeout: this.timeouts.info, [SAFE]: true })
  }
  cancelTraining(id: string): Promise<TrainingStatus> {
    return this.call({ method: 'DELETE', url: `/v1/trainings/${encodeURIComponent(id)}`, timeout: this.timeouts.info, [SAFE]: true })
  }
  adapters(): Promise<{ data: AdapterManifest[] }> {
    return this.call({ method: 'GET', url: '/v1/adapters', timeout: this.timeouts.info, [SAFE]: true })
  }
  adapter(name: string): Promise<AdapterManifest> {
    return this.call({ method: 'GET', url: `/v1/adapters/${encodeURIComponent(name)}`, timeout: this.timeouts.info, [SAFE]: true })
  }
  async deleteAdapter(name: string): Promise<void> {
    await this.call({ method: 'DELETE', url: `/v1/adapters/${encodeURIComponent(name)}`, timeout: this.timeouts.info, [SAFE]: true })
  }

  /** Polls a training until it ends (or `signal` aborts), reporting each status. */
  async waitForTraining(id: string, opts: { intervalMs?: number; onStatus?: (s: TrainingStatus) => void; signal?: AbortSignal } = {}): Promise<TrainingStatus> {
    for (;;) {
      const s = await this.training(id)
      opts.onStatus?.(s)
      if (s.state === 'succeeded' || s.state === 'failed' || s.state === 'cancelled') return s
      if (opts.signal?.aborted) throw new WorkerError('stopped waiting for the training', null, 'aborted')
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000))
    }
  }
}

function toWorkerError(err: unknown, config: AxiosRequestConfig): WorkerError {
  const what = `${config.method} ${config.url}`
  if (axios.isCancel(err)) return new WorkerError(`worker ${what}: aborted by the caller`, null, 'aborted')
  if (err instanceof AxiosError) {
    if (err.response) {
      const data = err.response.data as Partial<WorkerProblem> | undefined
      const problem = data && typeof data === 'object' && typeof data.code === 'string' ? (data as WorkerProblem) : undefined
      const detail = problem?.detail ?? (typeof err.response.data === 'string' ? err.response.data.slice(0, 500) : err.message)
      return new WorkerError(`worker ${what}: ${err.response.status} ${detail}`, err.response.status, problem?.code ?? `http_${err.response.status}`, problem)
    }
    const timeout = err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT'
    return new WorkerError(`worker ${what}: ${timeout ? 'timed out' : `unreachable (${err.code ?? err.message})`}`, null, timeout ? 'worker_timeout' : 'worker_unavailable', undefined, err.code)
  }
  return new WorkerError(`worker ${what}: ${err instanceof Error ? err.message : String(err)}`, null, 'worker_unavailable')
}
