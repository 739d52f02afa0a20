// Docker cannot run on these machines: the compose file and Dockerfiles are checked by parsing them.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true })

t.test('compose wires Postgres, the three services and the GPU worker', async (t) => {
  t.same(Object.keys(compose.services).sort(), ['evaluation', 'generation', 'postgres', 'training', 'worker'])
  t.ok(compose.services.postgres.healthcheck.test, 'postgres has a healthcheck')
  t.ok(compose.services.postgres.volumes.some((v: string) => v.startsWith('pgdata:')), 'postgres keeps its data in a volume')
  const ports = { generation: 3001, training: 3002, evaluation: 3003 }
  for (const [name, port] of Object.entries(ports)) {
    const s = compose.services[name]
    t.equal(s.build.args.SERVICE, name, `${name} builds its own service`)
    t.equal(s.build.dockerfile, 'infra/service.Dockerfile')
    t.same(s.depends_on.postgres, { condition: 'service_healthy' })
    t.match(s.environment.DATABASE_URL, /@postgres:5432\//)
    t.ok(s.environment.SYS2FT_API_KEYS && s.environment.SYS2FT_SERVICE_KEY, 'keys are required')
    t.same(s.ports, [`${port}:${port}`])
    for (const peer of Object.keys(ports)) t.match(s.environment[`SYS2FT_${peer.toUpperCase()}_URL`], `http://${peer}:`)
  }
  const gpu = compose.services.worker.deploy.resources.reservations.devices[0]
  t.match(gpu, { driver: 'nvidia', capabilities: ['gpu'] }, 'the worker reserves a GPU')
  t.same(Object.keys(compose.volumes).sort(), ['adapters', 'models', 'pgdata'])
})

t.test('the service Dockerfile is multi-stage, uses pnpm deploy and runs as a non-root user', async (t) => {
  const df = readFileSync('infra/service.Dockerfile', 'utf8')
  t.equal(df.match(/^FROM /gm)?.length, 2, 'two stages')
  t.match(df, /pnpm --filter "@sys2ft\/\$\{SERVICE\}" deploy --prod/)
  t.match(df, /^USER node$/m)
  t.match(df, /^HEALTHCHECK /m)
  const lock = readFileSync('pnpm-lock.yaml', 'utf8')
  t.ok(lock.length > 0 && df.includes('--frozen-lockfile'))
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
  t.match(df, `pnpm@${pkg.packageManager.split('@')[1]}`, 'the image installs the pinned pnpm')
})
