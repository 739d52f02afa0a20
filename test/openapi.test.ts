import t from 'tap'
import { readFileSync } from 'node:fs'
import { generateOpenApi, generateWorkerTypes, openapiDir, workerTypesFile } from '../scripts/openapi.ts'

t.test('the committed OpenAPI documents match the code (run `pnpm openapi` after changing routes)', async (t) => {
  for (const [name, text] of Object.entries(await generateOpenApi())) {
    const committed = readFileSync(`${openapiDir}${name}.json`, 'utf8')
    t.ok(committed === text, `openapi/${name}.json is current`)
    const doc = JSON.parse(text)
    t.equal(doc.openapi, '3.1.0')
    t.ok(doc.components.schemas.Problem, 'problem+json documented')
  }
})

t.test('the worker client’s types match openapi/worker.json (run `pnpm openapi` after the worker’s contract changes)', async (t) => {
  const text = await generateWorkerTypes()
  t.ok(readFileSync(workerTypesFile, 'utf8') === text, 'packages/worker-client/src/generated/worker-api.ts is current')
  t.match(text, /TrainingRequest: \{/, 'the worker’s schemas are in it')
})
