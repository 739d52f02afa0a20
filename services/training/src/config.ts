import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { ConfigError, parseEnv, type Sys2ftConfig } from '@sys2ft/service-kit'
import { WorkerHostPolicy } from './domain/worker-hosts.ts'

/** A worker named in configuration (`SYS2FT_WORKERS`). */
export const ConfiguredWorker = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }),
    url: Type.String({ minLength: 1, format: 'uri' }),
    api_key: Type.Optional(Type.String()),
    capacity: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
)
export type ConfiguredWorker = Static<typeof ConfiguredWorker>

/**
 * The training service's own settings, read from the environment beside the shared ones and checked
 * the same way (a bad value stops the process with one line naming the variable).
 */
export const TrainingConfigSchema = Type.Object({
  SYS2FT_WORKERS: Type.String({ default: '', description: 'JSON list of extra workers: [{"name","url","api_key"?,"capacity"?,"labels"?}]. SYS2FT_WORKER_URL is always registered as `default`.' }),
  SYS2FT_WORKER_HOSTS: Type.String({ default: '', description: 'Hosts POST /workers may register, comma separated: addresses, CIDR blocks, names, *.suffixes, or * for any. Unset: this machine only (127.0.0.0/8, ::1, localhost). Configured workers are always allowed.' }),
  SYS2FT_TRAINING_POLL_MS: Type.Integer({ default: 1000, minimum: 10, maximum: 60_000, description: 'How often the dispatcher claims queued jobs and polls running trainings.' }),
  SYS2FT_TRAINING_LEASE_MS: Type.Integer({ default: 30_000, minimum: 100, maximum: 3_600_000, description: 'How long a running job may go without its worker answering before it is requeued.' }),
  SYS2FT_TRAINING_HEALTH_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 3_600_000, description: 'Interval of the workers’ health checks (GET /v1/info).' }),
  SYS2FT_TRAINING_MAX_ATTEMPTS: Type.Integer({ default: 3, minimum: 1, maximum: 20, description: 'Attempts per job (a worker lost mid-training costs one) before it fails.' }),
})

export interface TrainingSettings {
  /** Every worker registered from configuration: `default` (SYS2FT_WORKER_URL) first. */
  workers: ConfiguredWorker[]
  /** The Ray backend: the launcher whose alive engine actors are registered as workers too (labels.backend `ray`), at every health round. */
  ray?: { poolUrl: string; apiKey: string | undefined } | undefined
  /** Which hosts POST /workers may register. */
  workerHosts: WorkerHostPolicy
  pollMs: number
  leaseMs: number
  healthMs: number
  maxAttempts: number
  /** Timeout of a worker's status and info calls (a hung worker must not stall the dispatcher). */
  workerTimeoutMs: number
}

/** The training settings from `env`; throws ConfigError naming each bad variable. */
export function loadTrainingSettings(config: Pick<Sys2ftConfig, 'urls' | 'workerApiKey' | 'ray'>, env: Record<string, string | undefined> = process.env): TrainingSettings {
  const raw = parseEnv(TrainingConfigSchema, env)
  const extra = parseWorkers(raw.SYS2FT_WORKERS)
  const byName = new Set(extra.map((w) => w.name))
  // with the Ray backend the actors are the workers: `default` only when SYS2FT_WORKER_URL is set as well
  const withDefault = !byName.has('default') && (!config.ray || Boolean(env.SYS2FT_WORKER_URL))
  const workers: ConfiguredWorker[] = withDefault ? [{ name: 'default', url: config.urls.worker, ...(config.workerApiKey ? { api_key: config.workerApiKey } : {}) }] : []
  const all = [...workers, ...extra]
  return {
    workers: all,
    ray: config.ray ? { poolUrl: config.ray.poolUrl, apiKey: config.workerApiKey } : undefined,
    workerHosts: WorkerHostPolicy.parse(raw.SYS2FT_WORKER_HOSTS, all.map((w) => w.url)),
    pollMs: raw.SYS2FT_TRAINING_POLL_MS,
    leaseMs: raw.SYS2FT_TRAINING_LEASE_MS,
    healthMs: raw.SYS2FT_TRAINING_HEALTH_MS,
    maxAttempts: raw.SYS2FT_TRAINING_MAX_ATTEMPTS,
    workerTimeoutMs: 5_000,
  }
}

function parseWorkers(text: string): ConfiguredWorker[] {
  if (text.trim() === '') return []
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ConfigError(`SYS2FT_WORKERS: is not valid JSON (got ${JSON.stringify(text.slice(0, 80))})`)
  }
  const schema = Type.Array(ConfiguredWorker)
  const errors = Value.Errors(schema, value)
  if (errors.length > 0) {
    const lines = errors.map((e) => `${e.instancePath || '/'} ${e.message}`)
    throw new ConfigError(`SYS2FT_WORKERS: ${[...new Set(lines)].join('; ')}`)
  }
  const list = value as ConfiguredWorker[]
  const seen = new Set<string>()
  for (const w of list) {
    if (seen.has(w.name)) throw new ConfigError(`SYS2FT_WORKERS: the name ${w.name} is given twice`)
    seen.add(w.name)
  }
  return list
}
