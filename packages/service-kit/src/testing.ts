import type { Sys2ftConfig } from './config.ts'

export const TEST_KEY = 'test-client-key'
export const TEST_SERVICE_KEY = 'test-service-key'

/** A configuration for tests: real keys (auth on), quiet logs, the given database. */
export function testConfig(databaseUrl: string, overrides: Partial<Sys2ftConfig> = {}): Sys2ftConfig {
  return {
    databaseUrl,
    host: '127.0.0.1',
    ports: { generation: 0, training: 0, evaluation: 0 },
    urls: { generation: 'http://127.0.0.1:1', training: 'http://127.0.0.1:1', evaluation: 'http://127.0.0.1:1', worker: 'http://127.0.0.1:1' },
    workerApiKey: undefined,
    apiKeys: [TEST_KEY],
    serviceKey: TEST_SERVICE_KEY,
    devInsecure: false,
    logLevel: 'silent',
    db: { poolMax: 5, statementTimeoutMs: 30_000 },
    dataDir: '.data/test',
    limits: { experimentCells: 2000 },
    ...overrides,
  }
}

export const auth = { authorization: `Bearer ${TEST_KEY}` }
