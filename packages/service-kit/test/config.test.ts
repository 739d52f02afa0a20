import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'

const base = { DATABASE_URL: 'postgres://x@127.0.0.1/db', SYS2FT_API_KEYS: 'k1, k2' }

t.test('defaults, conversions and key lists', async (t) => {
  const c = loadConfig({ ...base, SYS2FT_TRAINING_PORT: '4002', SYS2FT_DEV_INSECURE: 'false' })
  t.equal(c.ports.generation, 3001)
  t.equal(c.ports.training, 4002)
  t.same(c.apiKeys, ['k1', 'k2'])
  t.equal(c.urls.worker, 'http://127.0.0.1:8000')
  t.equal(c.devInsecure, false)
})

t.test('a bad or missing value names the variable in one line', async (t) => {
  t.throws(() => loadConfig({ SYS2FT_API_KEYS: 'k' }), { name: 'ConfigError', message: /^DATABASE_URL: is required$/ })
  t.throws(() => loadConfig({ ...base, SYS2FT_GENERATION_PORT: 'http' }), { message: /SYS2FT_GENERATION_PORT: .*got "http"/ })
  t.throws(() => loadConfig({ ...base, SYS2FT_GENERATION_PORT: '70000' }), { message: /SYS2FT_GENERATION_PORT/ })
  t.throws(() => loadConfig({ ...base, SYS2FT_LOG_LEVEL: 'loud' }), { message: /SYS2FT_LOG_LEVEL/ })
  const err = t.throws(() => loadConfig({ ...base, SYS2FT_WORKER_URL: 'not a url' })) as ConfigError
  t.notOk(err.message.includes('\n'), 'one line')
})

t.test('no keys: refuses to start unless the explicit dev flag is set', async (t) => {
  t.throws(() => loadConfig({ DATABASE_URL: base.DATABASE_URL }), { message: /^SYS2FT_API_KEYS: no API keys configured/ })
  const c = loadConfig({ DATABASE_URL: base.DATABASE_URL, SYS2FT_DEV_INSECURE: 'true' })
  t.equal(c.devInsecure, true)
  t.same(c.apiKeys, [])
  t.ok(loadConfig({ DATABASE_URL: base.DATABASE_URL, SYS2FT_SERVICE_KEY: 's' }), 'a service key alone is enough')
})
