// What an adapter is called in reports and tables: from its training job and generation run.
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { newId } from '@sys2ft/service-kit'
import { describeAdapters } from '../src/domain/run-labels.ts'

const tdb = await createTestDatabase()
t.teardown(() => tdb.drop())
const db = tdb.db

async function adapterFrom(options: Record<string, unknown>, tokens: { prompt: number; completion: number }): Promise<string> {
  await db.insertInto('news_sets').values({ id: 'ns_labels', name: 'labels', description: '', kind: 'news', version: '1', builtin: false, item_count: 0, question_count: 0, content_sha256: 'x' }).onConflict((oc) => oc.doNothing()).execute()
  const gen = newId('gen')
  await db.insertInto('generation_runs').values({ id: gen, set_id: 'ns_labels', protocol: 'self_qa', options: JSON.stringify({ samples_per_news: 4, replay: 0, ...options }), provenance: '{}', state: 'succeeded', prompt_tokens: tokens.prompt, completion_tokens: tokens.completion }).execute()
  const job = newId('job')
  const hp = { learning_rate: 2e-4, epochs: 2, lora: { r: 16 } }
  await db.insertInto('training_jobs').values({ id: job, name: job, base_model: 'm', data: JSON.stringify({ sources: [{ generation_run_id: gen }] }), settings: JSON.stringify(hp), seed: 0, state: 'succeeded' }).execute()
  const ad = newId('ad')
  await db.insertInto('adapters').values({ id: ad, name: ad, job_id: job, base_model: 'm', worker_id: null, location: JSON.stringify({ worker_id: null, worker_url: 'http://w', name: ad }), data_sha256: 'x', hyperparameters: JSON.stringify(hp), final_loss: 1, compute: JSON.stringify({ flops: 1e12, total_params: 1000 }), manifest: '{}' }).execute()
  return ad
}

t.test('the verify stage is part of the name, and generation compute is counted', async (t) => {
  const plain = await adapterFrom({}, { prompt: 100, completion: 50 })
  const verified = await adapterFrom({ verify: true }, { prompt: 300, completion: 80 })
  const d = await describeAdapters(db, [plain, verified])
  t.match(d.get(plain), { protocol: 'self_qa', samples_per_news: 4, generation_tokens: 150 })
  t.match(d.get(verified), { protocol: 'self_qa+verify', generation_tokens: 380 }, 'two rows of one protocol, told apart (the 0.5B run printed “self_qa … #2”)')
})

t.test('a matched budget is named in the label', async (t) => {
  const { runLabel } = await import('../src/domain/run-labels.ts')
  const training = { protocol: 'entigraph', samples_per_news: 8, news_in_context: false, replay: 0, learning_rate: 2e-4, epochs: 2, lora_r: 16, seed: 0, generation_tokens: 10, token_budget: 12_000 }
  t.equal(runLabel('ft', training, null, {}), 'FT · entigraph · 8/news · 12k tok/ep · lr 2e-4 · 2 ep')
  t.equal(runLabel('ft', { ...training, token_budget: null }, null, {}), 'FT · entigraph · 8/news · lr 2e-4 · 2 ep')
})
