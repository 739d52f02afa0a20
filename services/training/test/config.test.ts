// The training service's own settings: checked at start, a bad value named in one line.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '@sys2ft/service-kit'
import { loadTrainingSettings } from '../src/config.ts'

const config = { urls: { worker: 'http://127.0.0.1:8000' }, workerApiKey: 'wk-key' } as Parameters<typeof loadTrainingSettings>[0]

t.test('defaults, and the configured workers (default first)', async (t) => {
  const s = loadTrainingSettings(config, {})
  t.same(s.workers, [{ name: 'default', url: 'http://127.0.0.1:8000', api_key: 'wk-key' }])
  t.match(s, { pollMs: 1000, leaseMs: 30_000, healthMs: 10_000, maxAttempts: 3 })
  const more = loadTrainingSettings(config, { SYS2FT_WORKERS: JSON.stringify([{ name: 'gpu-1', url: 'http://gpu-1:8000', capacity: 1, labels: { gpu: 'H200' } }]), SYS2FT_TRAINING_LEASE_MS: '5000' })
  t.same(more.workers.map((w) => w.name), ['default', 'gpu-1'])
  t.equal(more.leaseMs, 5000)
  const replaced = loadTrainingSettings(config, { SYS2FT_WORKERS: JSON.stringify([{ name: 'default', url: 'http://elsewhere:8000' }]) })
  t.same(replaced.workers, [{ name: 'default', url: 'http://elsewhere:8000' }], 'SYS2FT_WORKERS may redefine `default`')
})

t.test('bad values: a ConfigError naming the variable', async (t) => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ SYS2FT_WORKERS: 'not json' }, /^SYS2FT_WORKERS: is not valid JSON/],
    [{ SYS2FT_WORKERS: '{"name":"a"}' }, /^SYS2FT_WORKERS: .*array/],
    [{ SYS2FT_WORKERS: '[{"name":"a"}]' }, /^SYS2FT_WORKERS: .*url/],
    [{ SYS2FT_WORKERS: '[{"name":"a","url":"http://x"},{"name":"a","url":"http://y"}]' }, /^SYS2FT_WORKERS: the name a is given twice/],
    [{ SYS2FT_TRAINING_LEASE_MS: '5' }, /^SYS2FT_TRAINING_LEASE_MS: /],
    [{ SYS2FT_TRAINING_MAX_ATTEMPTS: 'lots' }, /^SYS2FT_TRAINING_MAX_ATTEMPTS: /],
  ]
  for (const [env, message] of bad) t.throws(() => loadTrainingSettings(config, env), { name: 'ConfigError', message }, JSON.stringify(env))
  t.type(new ConfigError('x'), Error)
})

t.test('the process stops at start with one line naming the variable', async (t) => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
  const res = spawnSync(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, DATABASE_URL: 'postgres://unused@127.0.0.1:1/none', SYS2FT_DEV_INSECURE: '1', SYS2FT_TRAINING_POLL_MS: '0' },
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.equal(res.status, 78)
  t.match(res.stderr.trim(), /^sys2ft-training: configuration error: SYS2FT_TRAINING_POLL_MS: /)
  t.equal(res.stderr.trim().split('\n').length, 1, 'one line')
})

t.test('SYS2FT_WORKER_HOSTS: addresses, blocks, names, suffixes, *', async (t) => {
  const refused = (hosts: string, url: string) => loadTrainingSettings(config, { SYS2FT_WORKER_HOSTS: hosts }).workerHosts.refusal(url)
  t.equal(refused('', 'http://127.0.0.1:9000'), null, 'the default allows this machine')
  t.equal(refused('', 'http://[::1]:9000'), null)
  t.match(refused('', 'http://10.1.2.3:8000'), /not in SYS2FT_WORKER_HOSTS \(127\.0\.0\.0\/8, ::1, localhost\)/)
  const lab = '10.0.0.0/8, fd00::/8, *.svc.cluster.local, gpu-1.lab'
  t.equal(refused(lab, 'http://10.200.0.7:8000'), null)
  t.equal(refused(lab, 'http://[fd12::7]:8000'), null)
  t.equal(refused(lab, 'https://worker-0.sys2ft.svc.cluster.local'), null)
  t.equal(refused(lab, 'http://GPU-1.lab:8000'), null, 'names compare without case')
  t.match(refused(lab, 'http://11.0.0.1:8000'), /host 11\.0\.0\.1/)
  t.match(refused(lab, 'http://evilsvc.cluster.local'), /host evilsvc\.cluster\.local/, 'a suffix matches whole labels only')
  t.match(refused(lab, 'http://127.0.0.2:8000'), /not in/, 'an explicit list replaces the default (the configured worker, 127.0.0.1, stays allowed)')
  t.equal(loadTrainingSettings({ ...config, urls: { worker: 'http://gpu-9:8000' } } as typeof config, { SYS2FT_WORKER_HOSTS: lab }).workerHosts.refusal('http://gpu-9:8001'), null, 'a configured worker’s host is always allowed')
  t.equal(refused('*', 'http://anything.example:1'), null)
  t.match(refused('*', 'ftp://x'), /http or https/)
  t.throws(() => refused('10.0.0.0/40', 'http://x'), ConfigError)
  t.throws(() => refused('not a host!', 'http://x'), /SYS2FT_WORKER_HOSTS: not a host! is not/)
})
