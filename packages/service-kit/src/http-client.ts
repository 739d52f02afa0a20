import axios, { type AxiosInstance } from 'axios'

export interface ServiceClientOptions {
  baseURL: string
  /** Bearer key for the callee. */
  key?: string | undefined
  /** Forwarded as x-request-id so one id follows a request across services. */
  requestId?: string | undefined
  timeoutMs?: number
}

/** An axios instance for calling another sys2ft service (or the worker) on behalf of a request. */
export function serviceClient(opts: ServiceClientOptions): AxiosInstance {
  const headers: Record<string, string> = {}
  if (opts.key) headers.authorization = `Bearer ${opts.key}`
  if (opts.requestId) headers['x-request-id'] = opts.requestId
  return axios.create({ baseURL: opts.baseURL, headers, timeout: opts.timeoutMs ?? 10_000, validateStatus: () => true })
}
