import { ConfigError, loadConfig, runService } from '@sys2ft/service-kit'
import { buildApp, loadTrainingSettings } from './app.ts'

// The training settings are checked before anything starts, like the shared ones: a bad value stops
// the process with one line naming the variable.
try {
  loadTrainingSettings(loadConfig())
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`sys2ft-training: configuration error: ${err.message}`)
  process.exit(78)
}
await runService('training', buildApp)
