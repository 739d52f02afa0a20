// The job's hyperparameter ranges and defaults are the worker's: checked against the worker's exported
// contract (openapi/worker.json), so a job the service accepts is never refused by a worker for a range.
// Also the mixing rule and the data hash, which need no database.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { Hyperparameters, CreateJobBody } from '../src/schemas/training-jobs.ts'
import { MAX_EXAMPLES, examplesSha256, mixCounts, takeCount } from '../src/domain/training-data.ts'

const worker = JSON.parse(readFileSync(new URL('../../../openapi/worker.json', import.meta.url), 'utf8'))
const schemas = worker.components.schemas
const keys = ['minimum', 'maximum', 'exclusiveMinimum', 'default', 'type'] as const

/** The differences between one of our fields and the worker's: none expected. */
function diff(ours: Record<string, unknown>, theirs: Record<string, unknown>, name: string): string[] {
  const out = keys.filter((k) => theirs[k] !== undefined && !(k === 'type' && theirs.enum) && ours[k] !== theirs[k]).map((k) => `${name}.${k}: ours ${String(ours[k])}, worker ${String(theirs[k])}`)
  if (theirs.enum && JSON.stringify((ours.anyOf as { const: string }[]).map((b) => b.const)) !== JSON.stringify(theirs.enum)) out.push(`${name}: values differ`)
  return out
}

t.test('ranges and defaults match the worker’s TrainingRequest', async (t) => {
  const hp = Hyperparameters.properties as unknown as Record<string, Record<string, unknown>>
  const lora = (hp.lora as unknown as { properties: Record<string, Record<string, unknown>> }).properties
  const seed = (CreateJobBody.properties as unknown as Record<string, Record<string, unknown>>).seed!
  const fields = Object.keys(hp).filter((k) => k !== 'lora')
  const differences = [
    ...fields.map((name) => diff(hp[name]!, schemas.TrainingRequest.properties[name], name)),
    ...['r', 'alpha', 'dropout'].map((name) => diff(lora[name]!, schemas.LoraSettings.properties[name], `lora.${name}`)),
    diff(seed, schemas.TrainingRequest.properties.seed, 'seed'),
  ].flat()
  t.same(differences, [], 'every range and default is the worker’s')
  // lease_s is the dispatcher's (fencing), not a training setting
  const notSettings = ['training_id', 'base_model', 'adapter_name', 'examples', 'overwrite', 'lora', 'seed', 'lease_s']
  t.same(Object.keys(schemas.TrainingRequest.properties).filter((k) => !notSettings.includes(k)).sort(), [...fields].sort(), 'every training setting of the worker is offered on the job')
  t.equal(MAX_EXAMPLES, schemas.TrainingRequest.properties.examples.maxItems, 'the most examples a training takes')
})

t.test('mixing: shares follow the weights and no example is dropped', async (t) => {
  t.same(mixCounts([100], [5]), [100], 'one source: its weight does not matter')
  t.same(mixCounts([100, 10], [1, 1]), [100, 100], 'equal weights: the small source is repeated')
  t.same(mixCounts([100, 10], [3, 1]), [100, 33])
  t.same(mixCounts([100, 10], [1, 3]), [100, 300])
  t.same(mixCounts([10, 100], [1, 0.01]), [10000, 100], 'a small weight on a large source scales the others up, never drops data')
  const items = ['a', 'b', 'c', 'd', 'e']
  const taken = takeCount(items, 12, 42)
  t.equal(taken.length, 12)
  t.same(taken.slice(0, 10), [...items, ...items], 'whole copies first')
  t.equal(new Set(taken.slice(10)).size, 2, 'then a sample without replacement')
  t.same(takeCount(items, 12, 42), taken, 'seeded: the same every time')
})

t.test('the data hash is the worker’s: canonical JSON with sorted keys', async (t) => {
  // the worker's data_sha256 of this example, as its manifest reports it (json.dumps(sort_keys=True, separators=(",", ":")))
  const examples = [{ messages: [{ role: 'user' as const, content: 'Q 0?' }, { role: 'assistant' as const, content: 'A 0 zébra' }] }]
  const { createHash } = await import('node:crypto')
  const canonical = '[{"messages":[{"content":"Q 0?","role":"user"},{"content":"A 0 zébra","role":"assistant"}]}]'
  t.equal(examplesSha256(examples), createHash('sha256').update(canonical).digest('hex'))
})

t.test('with distillation targets the hash is still the worker’s: floats written as JSON.stringify does', async (t) => {
  // the worker's data_sha256 of this example (sys2ft_worker.canonical: Python's json would write 1e-05 and -3.0)
  const examples = [{ messages: [{ role: 'user' as const, content: 'Q?' }, { role: 'assistant' as const, content: 'A' }], distill: { token_ids: [5, 7], top: [[[5, -0.00001], [9, -3]], [[7, -1.5e-7], [2, -2.5]]] as [number, number][][], k: 2 } }]
  t.equal(examplesSha256(examples), '4134342ca39438614570cfec2bb87fb20dd9873429c912e2102792224dbd6041')
})
