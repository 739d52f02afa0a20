import { Type, type Static, type TSchema } from 'typebox'
import { Value } from 'typebox/value'

/**
 * Every setting of the three services, read from the environment once at start. One table in the
 * README lists them; a bad or missing value stops the process with one line naming the variable.
 */
export const ConfigSchema = Type.Object({
  DATABASE_URL: Type.String({ minLength: 1, description: 'Postgres connection string. Unset: the stack starts an embedded PostgreSQL.' }),
  SYS2FT_HOST: Type.String({ default: '127.0.0.1', description: 'Interface the services listen on.' }),
  SYS2FT_GENERATION_PORT: Type.Integer({ default: 3001, minimum: 0, maximum: 65535 }),
  SYS2FT_TRAINING_PORT: Type.Integer({ default: 3002, minimum: 0, maximum: 65535 }),
  SYS2FT_EVALUATION_PORT: Type.Integer({ default: 3003, minimum: 0, maximum: 65535 }),
  SYS2FT_GENERATION_URL: Type.String({ default: 'http://127.0.0.1:3001', format: 'uri', description: 'Where the other services reach the generation service.' }),
  SYS2FT_TRAINING_URL: Type.String({ default: 'http://127.0.0.1:3002', format: 'uri' }),
  SYS2FT_EVALUATION_URL: Type.String({ default: 'http://127.0.0.1:3003', format: 'uri' }),
  SYS2FT_WORKER_URL: Type.String({ default: 'http://127.0.0.1:8000', format: 'uri', description: 'The model worker the services call.' }),
  SYS2FT_WORKER_API_KEY: Type.String({ default: '', description: 'Bearer key for the worker, if it has one.' }),
  SYS2FT_API_KEYS: Type.String({ default: '', description: 'Comma-separated bearer keys accepted from clients.' }),
  SYS2FT_SERVICE_KEY: Type.String({ default: '', description: 'Bearer key the services use to call each other (also accepted).' }),
  SYS2FT_DEV_INSECURE: Type.Boolean({ default: false, description: 'Allow starting with no keys (authentication off). Development only.' }),
  SYS2FT_LOG_LEVEL: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info' }),
  SYS2FT_DB_POOL_MAX: Type.Integer({ default: 10, minimum: 1, maximum: 200 }),
  SYS2FT_DB_STATEMENT_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100 }),
  SYS2FT_DATA_DIR: Type.String({ default: '.data', description: 'Local state: the embedded database, adapters.' }),
  SYS2FT_MAX_EXPERIMENT_CELLS: Type.Integer({ default: 2000, minimum: 1, description: 'The most cells one experiment may expand to; a bigger grid is a 400 that says its cell count.' }),
  SYS2FT_RAY_ADDRESS: Type.String({ default: '', description: 'The Ray cluster the engine actors run on (the `ray` execution backend); unset: HTTP workers only, as without Ray.' }),
  SYS2FT_RAY_POOL_URL: Type.String({ default: '', description: 'The Ray launcher (python -m sys2ft_worker.ray_pool): its GET /v1/pool lists the engine actors. Required with SYS2FT_RAY_ADDRESS.' }),
})

export type RawConfig = Static<typeof ConfigSchema>

export interface Sys2ftConfig {
  databaseUrl: string
  host: string
  ports: { generation: number; training: number; evaluation: number }
  urls: { generation: string; training: string; evaluation: string; worker: string }
  workerApiKey: string | undefined
  apiKeys: string[]
  serviceKey: string | undefined
  devInsecure: boolean
  logLevel: RawConfig['SYS2FT_LOG_LEVEL']
  db: { poolMax: number; statementTimeoutMs: number }
  dataDir: string
  limits: { experimentCells: number }
  /** The `ray` execution backend (SYS2FT_RAY_ADDRESS set): runs and trainings go to the launcher's engine actors. */
  ray?: { address: string; poolUrl: string } | undefined
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Parses variables named by `schema` out of `env`: defaults applied, strings converted, then checked. */
export function parseEnv<S extends TSchema>(schema: S, env: Record<string, string | undefined>): Static<S> {
  const keys = Object.keys((schema as unknown as { properties: Record<string, unknown> }).properties)
  const picked: Record<string, unknown> = {}
  for (const k of keys) if (env[k] !== undefined && env[k] !== '') picked[k] = env[k]
  const value = Value.Convert(schema, Value.Default(schema, picked))
  const errors = Value.Errors(schema, value)
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const name = e.instancePath.replace(/^\//, '') || String((e.params as { requiredProperties?: string[] }).requiredProperties?.[0] ?? '(config)')
      const given = env[name]
      return `${name}: ${given === undefined || given === '' ? 'is required' : `${e.message} (got ${JSON.stringify(given)})`}`
    })
    throw new ConfigError([...new Set(lines)].join('; '))
  }
  return value as Static<S>
}

const splitKeys = (s: string) => s.split(',').map((k) => k.trim()).filter(Boolean)

/** The services' configuration; throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Sys2ftConfig {
  const raw = parseEnv(ConfigSchema, env)
  const config: Sys2ftConfig = {
    databaseUrl: raw.DATABASE_URL,
    host: raw.SYS2FT_HOST,
    ports: { generation: raw.SYS2FT_GENERATION_PORT, training: raw.SYS2FT_TRAINING_PORT, evaluation: raw.SYS2FT_EVALUATION_PORT },
    urls: { generation: raw.SYS2FT_GENERATION_URL, training: raw.SYS2FT_TRAINING_URL, evaluation: raw.SYS2FT_EVALUATION_URL, worker: raw.SYS2FT_WORKER_URL },
    workerApiKey: raw.SYS2FT_WORKER_API_KEY || undefined,
    apiKeys: splitKeys(raw.SYS2FT_API_KEYS),
    serviceKey: raw.SYS2FT_SERVICE_KEY || undefined,
    devInsecure: raw.SYS2FT_DEV_INSECURE,
    logLevel: raw.SYS2FT_LOG_LEVEL,
    db: { poolMax: raw.SYS2FT_DB_POOL_MAX, statementTimeoutMs: raw.SYS2FT_DB_STATEMENT_TIMEOUT_MS },
    dataDir: raw.SYS2FT_DATA_DIR,
    limits: { experimentCells: raw.SYS2FT_MAX_EXPERIMENT_CELLS },
    ray: rayBackend(raw),
  }
  assertAuthConfigured(config)
  return config
}

function rayBackend(raw: RawConfig): Sys2ftConfig['ray'] {
  if (!raw.SYS2FT_RAY_ADDRESS) {
    if (raw.SYS2FT_RAY_POOL_URL) throw new ConfigError('SYS2FT_RAY_POOL_URL: is set but SYS2FT_RAY_ADDRESS is not; set both for the Ray backend, or neither')
    return undefined
  }
  if (!raw.SYS2FT_RAY_POOL_URL) throw new ConfigError('SYS2FT_RAY_POOL_URL: is required with SYS2FT_RAY_ADDRESS (the launcher\'s endpoint: python -m sys2ft_worker.ray_pool --address … --port …)')
  try {
    new URL(raw.SYS2FT_RAY_POOL_URL)
  } catch {
    throw new ConfigError(`SYS2FT_RAY_POOL_URL: is not a URL (got ${JSON.stringify(raw.SYS2FT_RAY_POOL_URL)})`)
  }
  return { address: raw.SYS2FT_RAY_ADDRESS, poolUrl: raw.SYS2FT_RAY_POOL_URL.replace(/\/+$/, '') }
}

/** With no keys the stack refuses to start, unless the explicit development flag is set. */
export function assertAuthConfigured(config: Pick<Sys2ftConfig, 'apiKeys' | 'serviceKey' | 'devInsecure'>): void {
  if (!config.devInsecure && config.apiKeys.length === 0 && !config.serviceKey) {
    throw new ConfigError('SYS2FT_API_KEYS: no API keys configured; set SYS2FT_API_KEYS (and SYS2FT_SERVICE_KEY), or SYS2FT_DEV_INSECURE=1 to run without authentication')
  }
}
