import closeWithGrace from 'close-with-grace'
import { migrateToLatest } from '@sys2ft/db'
import { ConfigError, loadConfig, type Sys2ftConfig } from './config.ts'
import type { App, ServiceName } from './app.ts'

/**
 * The thin process entry of a service: load and check the configuration, build the app, migrate
 * (under the migrator's advisory lock), listen, and on SIGINT/SIGTERM stop accepting, let in-flight
 * requests finish and close the pool.
 */
export async function runService(name: ServiceName, build: (config: Sys2ftConfig) => Promise<App>): Promise<App> {
  let config: Sys2ftConfig
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`sys2ft-${name}: configuration error: ${err.message}`)
      process.exit(78)
    }
    throw err
  }
  const app = await build(config)
  await migrateToLatest(app.db)
  closeWithGrace({ delay: 15_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'stopping after an error')
    else app.log.info({ signal }, 'stopping')
    await app.close()
  })
  await app.listen({ host: config.host, port: config.ports[name] })
  return app
}
