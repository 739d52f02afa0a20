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

/** Calls the evaluation service's experiment routes; errors carry the service's problem detail. */
export class ExperimentsApi {
  readonly http: AxiosInstance
  constructor(readonly baseURL: string, key?: string) {
    this.http = axios.create({ baseURL, headers: key ? { authorization: `Bearer ${key}` } : {}, timeout: 60_000 })
  }
  private async call<T>(p: Promise<{ data: T }>): Promise<T> {
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
