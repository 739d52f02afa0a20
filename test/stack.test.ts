// The stack as `./sys2ft stack --worker` starts it: its worker is never left open. Without
// SYS2FT_WORKER_API_KEY the stack gives the worker a key of its own, which its services use.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { createTestDatabase } from '@sys2ft/db/testing'
import { freePort } from '@sys2ft/worker-client/testing'
import { startStack } from '../scripts/lib/stack.ts'

const tdb = await createTestDatabase({ migrate: false })
t.teardown(() => tdb.drop())
const [gen, train, evaluation, worker] = [await freePort(), await freePort(), await freePort(), await freePort()]
Object.assign(process.env, {
  DATABASE_URL: tdb.url,
  SYS2FT_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'sys2ft-stack-')),
  SYS2FT_GENERATION_PORT: String(gen),
  SYS2FT_TRAINING_PORT: String(train),
  SYS2FT_EVALUATION_PORT: String(evaluation),
  SYS2FT_GENERATION_URL: `http://127.0.0.1:${gen}`,
  SYS2FT_TRAINING_URL: `http://127.0.0.1:${train}`,
  SYS2FT_EVALUATION_URL: `http://127.0.0.1:${evaluation}`,
  SYS2FT_WORKER_URL: `http://127.0.0.1:${worker}`,
  SYS2FT_API_KEYS: 'client-key',
  SYS2FT_WORKER_API_KEY: '',
  SYS2FT_LOG_LEVEL: 'warn',
  HF_HUB_OFFLINE: '1',
})
// one question of the shipped set: the point is the key, not the score
const QUESTION = 'mathematics-001-q1'
const lines: string[] = []
const stack = await startStack({ workerModel: 'tiny-qwen2', say: (l) => lines.push(l), logLevel: 'warn' })
t.teardown(() => stack.stop())

t.test('the worker the stack starts wants a key, and the services have it', async (t) => {
  t.ok(stack.config.workerApiKey && stack.config.workerApiKey.length >= 32, 'a generated key')
  const open = await fetch(`${stack.urls.worker}/v1/info`)
  t.equal(open.status, 401, 'the worker refuses a caller without the key')
  const keyed = await fetch(`${stack.urls.worker}/v1/info`, { headers: { authorization: `Bearer ${stack.config.workerApiKey}` } })
  t.equal(keyed.status, 200)
  // an eval run is checked against the worker's model at creation, then scored on it: both with the key
  const client = { authorization: 'Bearer client-key', 'content-type': 'application/json' }
  const sets = await (await fetch(`${stack.urls.generation}/news-sets`, { headers: client })).json()
  const set = sets.data.find((s: { kind?: string }) => s.kind !== 'control') ?? sets.data[0]
  const created = await fetch(`${stack.urls.evaluation}/eval-runs`, {
    method: 'POST',
    headers: client,
    body: JSON.stringify({ set_id: set.id, model: (await keyed.json()).model.id, mode: 'base', filter: { question_keys: [QUESTION] } }),
  })
  t.equal(created.status, 202, await created.clone().text())
  const id = (await created.json()).id
  let run: { state: string; error: string | null }
  for (const deadline = Date.now() + 60_000; ; ) {
    run = await (await fetch(`${stack.urls.evaluation}/eval-runs/${id}`, { headers: client })).json()
    if (['succeeded', 'failed', 'cancelled'].includes(run.state) || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 250))
  }
  t.equal(run.state, 'succeeded', run.error ?? '')
  const workers = await (await fetch(`${stack.urls.training}/workers`, { headers: client })).json()
  const dflt = workers.data.find((w: { name: string }) => w.name === 'default')
  t.equal(dflt.has_api_key, true, 'training registers the default worker with the key')
})
