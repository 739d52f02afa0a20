import t from 'tap'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { freePort } from '../scripts/lib/test-server.ts'

const repo = path.resolve(import.meta.dirname, '..')
const doctor = (env: Record<string, string>) => spawnSync('./sys2ft', ['doctor'], { cwd: repo, encoding: 'utf8', env: { ...process.env, SYS2FT_TEST_DATABASE_URL: '', ...env } })

t.test('./sys2ft doctor names what is missing, with its fix, and fails only for required pieces', async (t) => {
  const closed = await freePort()
  const r = doctor({ SYS2FT_TEST_PG_PROBE: `127.0.0.1:${closed}`, SYS2FT_DEMO_MODEL: 'no-such-model', PYTHON: '/nonexistent/python3' })
  t.match(r.stdout, `nothing at 127.0.0.1:${closed}: the runner starts an embedded PostgreSQL`)
  t.match(r.stdout, /--   model no-such-model +not converted yet.*\n +fix: \(cd infra\/worker && \.venv\/bin\/python -m sys2ft_worker\.models setup no-such-model\)/)
  t.match(r.stdout, /FAIL Python ≥ 3\.11 +no python3\n +fix: apt-get install python3/)
  t.match(r.stdout, /\d+ required piece\(s\) missing/)
  t.equal(r.status, 1)
  t.ok(r.stdout.split('\n').length <= 40, 'one screen')
})
