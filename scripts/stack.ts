// `pnpm stack [--dev]`: the database (embedded unless DATABASE_URL), migrations and seed, then the three
// services on their ports. Ctrl-C stops everything cleanly.
import { ConfigError, loadConfig, type App } from '@sys2ft/service-kit'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { buildApp as evaluation } from '@sys2ft/evaluation'
import { migrateAndSeed, resolveDatabase } from './lib/database.ts'

const dev = process.argv.includes('--dev')
const say = (line: string) => console.log(`sys2ft: ${line}`)
if (dev) process.env.SYS2FT_DEV_INSECURE = '1'

const db = await resolveDatabase(say)
let config
try {
  config = loadConfig({ ...process.env, DATABASE_URL: db.url })
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`sys2ft: configuration error: ${err.message}`)
  await db.embedded?.stop()
  process.exit(78)
}
if (config.devInsecure) say('WARNING: authentication is off (development mode); set SYS2FT_API_KEYS for anything shared')

const { applied, seeded } = await migrateAndSeed(db.url)
if (applied.length) say(`migrated: ${applied.join(', ')}`)
if (seeded.length) say(`seeded: ${seeded.join(', ')}`)

const builders = { generation, training, evaluation } as const
const apps: App[] = []
for (const [name, build] of Object.entries(builders)) {
  const app = await build(config, { logger: { level: config.logLevel } })
  await app.listen({ host: config.host, port: config.ports[name as keyof typeof builders] })
  apps.push(app)
  const url = `http://${config.host}:${config.ports[name as keyof typeof builders]}`
  say(`${name.padEnd(10)} ${url}   docs: ${url}/docs`)
}
say('ready. Ctrl-C stops the stack.')

let stopping = false
async function stop(signal: string) {
  if (stopping) return
  stopping = true
  say(`${signal}: stopping`)
  await Promise.allSettled(apps.map((a) => a.close()))
  await db.embedded?.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))
