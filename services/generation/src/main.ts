import { runService } from '@sys2ft/service-kit'
import { buildApp } from './app.ts'
import { seedBuiltinSets } from './domain/news-sets.ts'

const app = await runService('generation', buildApp)
const { created } = await seedBuiltinSets(app.db)
if (created.length) app.log.info({ created }, 'seeded the shipped news sets')
