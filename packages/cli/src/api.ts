import axios, { AxiosError, type AxiosInstance } from 'axios'
import type { ExperimentResultsT, ResultRowT } from '@sys2ft/evaluation/schemas/results'

// the result table's shapes are the evaluation service's schemas (declared once, there)
export type ExperimentResults = ExperimentResultsT
export type ResultRow = ResultRowT

export interface Cell {
  key: string
  kind: 'generation' | 'training' | 'evaluation'
  state: string
  resource_id: string | null
  progress: { done?: number; total?: number; [k: string]: unknown }
  error: string | null
}

export interface Experiment {
  id: string
  name: string
  preset: string | null
  state: string
  progress: { done: number; total: number; unit: string }
  cells: Cell[]
  estimate: { elapsed_s: number; remaining_s: number | null }
  results: ExperimentResults | null
  error: string | null
  spec: Record<string, unknown>
}

/** One service's HTTP API; errors carry the service's problem detail. */
class ServiceApi {
  readonly http: AxiosInstance
  constructor(readonly baseURL: string, key?: string) {
    this.http = axios.create({ baseURL, headers: key ? { authorization: `Bearer ${key}` } : {}, timeout: 60_000 })
  }
  protected async call<T>(p: Promise<{ data: T }>): Promise<T> {
    try {
      return (await p).data
    } catch (err) {
      if (err instanceof AxiosError && err.response) {
        const d = err.response.data as { detail?: string; errors?: { path: string; message: string }[] }
        const fields = d.errors?.map((e) => `\n  ${e.path}: ${e.message}`).join('') ?? ''
        throw new Error(`${err.response.status}: ${d.detail ?? err.message}${fields}`)
      }
      throw new Error(`cannot reach ${this.baseURL}: ${(err as Error).message}`)
    }
  }
}

/** The evaluation service's experiment routes. */
export class ExperimentsApi extends ServiceApi {
  create(body: Record<string, unknown>, idempotencyKey?: string) {
    return this.call<Experiment>(this.http.post('/experiments', body, { headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} }))
  }
  get(id: string) {
    return this.call<Experiment>(this.http.get(`/experiments/${id}`))
  }
  list(limit = 20) {
    return this.call<{ data: Experiment[] }>(this.http.get('/experiments', { params: { limit } }))
  }
  cancel(id: string) {
    return this.call<Experiment>(this.http.delete(`/experiments/${id}`))
  }
  resume(id: string) {
    return this.call<Experiment>(this.http.post(`/experiments/${id}/resume`))
  }
  reportHtml(id: string) {
    return this.call<string>(this.http.get(`/experiments/${id}/report`, { responseType: 'text', params: { format: 'html' } }))
  }
  resultsCsv(id: string) {
    return this.call<string>(this.http.get(`/experiments/${id}/results`, { responseType: 'text', params: { format: 'csv' } }))
  }
}

export interface LmEvalExport {
  set: { id: string; name: string }
  questions: number
  tasks: { name: string; mode: 'base' | 'icl'; choices: 'letters' | 'options' }[]
  files: { path: string; content: string }[]
}

/** The generation service's news-set routes. */
export class NewsSetsApi extends ServiceApi {
  /** A set by id (`ns_…`) or by name. */
  async resolve(idOrName: string): Promise<{ id: string; name: string }> {
    if (idOrName.startsWith('ns_')) return this.call(this.http.get(`/news-sets/${idOrName}`))
    for (let after: string | null = null; ; ) {
      const page: { data: { id: string; name: string }[]; next_cursor: string | null } = await this.call(this.http.get('/news-sets', { params: { limit: 100, ...(after && { after }) } }))
      const found = page.data.find((s) => s.name === idOrName)
      if (found) return found
      if (!page.next_cursor) throw new Error(`no news set named ${idOrName}`)
      after = page.next_cursor
    }
  }
  lmEvalExport(id: string, params: { modes: string[]; seed: number; answer_prefix?: string; dir: string }) {
    return this.call<LmEvalExport>(this.http.get(`/news-sets/${id}/export`, { params: { format: 'lm-eval', ...params }, paramsSerializer: { indexes: null } }))
  }
}

export interface EvalRun {
  id: string
  state: string
  progress: { done: number; total: number }
  error: string | null
}

/** One question's result, the fields the CLI reads. */
export interface EvalResult {
  question_key: string
  domain: string | null
  type: string
  /** Display position i showed option option_order[i]; scores are in display order, picks are option indexes. */
  option_order: number[]
  scores: { picks: { letter: number }; letter: { logprob: number[] }; correct_by: { letter: boolean } }
}

/** The evaluation service's eval-run routes. */
export class EvalRunsApi extends ServiceApi {
  create(body: Record<string, unknown>) {
    return this.call<EvalRun>(this.http.post('/eval-runs', body))
  }
  get(id: string) {
    return this.call<EvalRun>(this.http.get(`/eval-runs/${id}`))
  }
  /** Every result of a run, page by page. */
  async *results(id: string): AsyncGenerator<EvalResult> {
    for (let after: string | null = null; ; ) {
      const page: { data: EvalResult[]; next_cursor: string | null } = await this.call(this.http.get(`/eval-runs/${id}/results`, { params: { limit: 100, ...(after && { after }) } }))
      yield* page.data
      if (!page.next_cursor) return
      after = page.next_cursor
    }
  }
}
