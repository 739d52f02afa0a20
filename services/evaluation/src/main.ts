import { runService } from '@sys2ft/service-kit'
import { buildApp } from './app.ts'

await runService('evaluation', buildApp)
