// `pnpm openapi` writes openapi/<service>.json from the code; test/openapi.test.ts fails when they drift.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { testConfig } from '@sys2ft/service-kit/testing'
import { buildApp as generation } from '@sys2ft/generation'
import { buildApp as training } from '@sys2ft/training'
import { buildApp as evaluation } from '@sys2ft/evaluation'

export const openapiDir = fileURLToPath(new URL('../openapi/', import.meta.url))
const builders = { generation, training, evaluation }

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
  return v
}

/** Each service's OpenAPI document as committed text (sorted keys, 2-space indent). */
export async function generateOpenApi(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const [name, build] of Object.entries(builders)) {
    // the pool connects lazily and job runners start only on listen: reading the routes needs no database
    const app = await build(testConfig('postgres://unused@127.0.0.1:1/none'), { logger: false })
    out[name] = `${JSON.stringify(sortKeys(app.swagger()), null, 2)}\n`
    await app.close()
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, text] of Object.entries(await generateOpenApi())) {
    writeFileSync(`${openapiDir}${name}.json`, text)
    console.log(`wrote openapi/${name}.json`)
  }
}
