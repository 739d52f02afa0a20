// Test fixtures for the evaluation service: news and control questions, and a trained adapter.
// The news tables belong to the generation service and `adapters` to the training service; these
// helpers write rows the way those services do, so the evaluation tests do not depend on them.
import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { loadBuiltin, naiveConversation, type ControlQuestion, type NewsItem } from '@sys2ft/dataset'
import { newId } from '@sys2ft/service-kit'
import { testConfig } from '@sys2ft/service-kit/testing'
import { WorkerClient } from '@sys2ft/worker-client'
import { buildApp } from '../src/app.ts'
import type { RunnerOptions } from '../src/plugins/eval-runner.ts'

export const MODEL = 'tiny-qwen2'
const builtin = loadBuiltin()

/** The first `perDomain` shipped news items of each domain. */
export const someNews = (perDomain: number): NewsItem[] => {
  const count = new Map<string, number>()
  return builtin.news.filter((n) => {
    const k = (count.get(n.domain) ?? 0) + 1
    count.set(n.domain, k)
    return k <= perDomain
  })
}
export const someControl = (n: number): ControlQuestion[] => builtin.control.slice(0, n)

/** A news set of these items, as the generation service imports it. */
export async function seedNewsSet(db: Kysely<Database>, items: NewsItem[], name = `news-${newId('x').slice(-8)}`): Promise<string> {
  const setId = newId('ns')
  const questions = items.flatMap((i) => i.questions)
  await db.insertInto('news_sets').values({ id: setId, name, description: '', kind: 'news', version: '1', builtin: false, item_count: items.length, question_count: questions.length, content_sha256: 'fixture' }).execute()
  const itemRows = items.map((item, position) => ({ id: newId('ni'), set_id: setId, key: item.id, position, domain: item.domain, title: item.title, date: item.date, text: item.text, check: null }))
  await db.insertInto('news_items').values(itemRows).execute()
  await db.insertInto('questions').values(items.flatMap((item, i) => item.questions.map((q, position) => ({
    id: newId('q'), set_id: setId, item_id: itemRows[i]!.id, key: q.id, position, type: q.type, subject: null, question: q.question,
    options: JSON.stringify(q.options), answer_index: q.answer_index, answer_text: q.answer_text, explanation: q.explanation, check: null,
  })))).execute()
  return setId
}

/** A control set of these questions. */
export async function seedControlSet(db: Kysely<Database>, qs: ControlQuestion[], name = `control-${newId('x').slice(-8)}`): Promise<string> {
  const setId = newId('ns')
  await db.insertInto('news_sets').values({ id: setId, name, description: '', kind: 'control', version: '1', builtin: false, item_count: 0, question_count: qs.length, content_sha256: 'fixture' }).execute()
  await db.insertInto('questions').values(qs.map((q, position) => ({
    id: newId('q'), set_id: setId, item_id: null, key: q.id, position, type: q.type, subject: q.subject, question: q.question,
    options: JSON.stringify(q.options), answer_index: q.answer_index, answer_text: q.answer_text, explanation: q.explanation, check: null,
  }))).execute()
  return setId
}

/**
 * Trains a tiny LoRA adapter on the real worker (naive FT on the news text: a second or two on the
 * tiny model) and registers it as the training service would: a training_jobs row (naive: the news
 * set as its source) and an adapters row whose location names the worker and the adapter's name there.
 */
export async function trainAdapter(
  db: Kysely<Database>, workerUrl: string, items: NewsItem[], name: string, flops = 1e12,
  opts: { newsSetId?: string; epochs?: number; learning_rate?: number } = {},
): Promise<string> {
  const worker = new WorkerClient({ baseURL: workerUrl })
  const { newsSetId = 'ns_fixture', epochs = 1, learning_rate = 1e-3 } = opts
  const hyperparameters = { lora: { r: 4, alpha: 8 }, learning_rate, epochs, batch_size: 4 }
  const started = await worker.startTraining({ adapter_name: name, examples: items.map((i) => ({ messages: naiveConversation(i) })), ...hyperparameters, overwrite: true })
  const done = await worker.waitForTraining(started.id, { intervalMs: 100 })
  if (done.state !== 'succeeded' || !done.adapter) throw new Error(`fixture training failed: ${done.error}`)
  const jobId = newId('job')
  await db.insertInto('training_jobs').values({ id: jobId, name, base_model: done.adapter.base_model, data: JSON.stringify({ sources: [{ news_set_id: newsSetId, weight: 1 }] }), settings: JSON.stringify(hyperparameters), seed: 0, state: 'succeeded' }).execute()
  const adapterId = newId('ad')
  await db.insertInto('adapters').values({
    id: adapterId, name, job_id: jobId, base_model: done.adapter.base_model, worker_id: null,
    location: JSON.stringify({ worker_id: null, worker_url: workerUrl, name }), data_sha256: done.adapter.data_sha256,
    hyperparameters: JSON.stringify(hyperparameters), final_loss: done.adapter.final_loss,
    compute: JSON.stringify({ flops, tokens: done.adapter.tokens_trained }), manifest: JSON.stringify(done.adapter),
  }).execute()
  return adapterId
}

/** The service on a real port (listening starts its run queue), with fast polling for tests. */
export async function startService(db: Kysely<Database>, url: string, workerUrl: string, runner: RunnerOptions = {}) {
  const app = await buildApp(testConfig(url, { urls: { generation: 'http://127.0.0.1:1', training: 'http://127.0.0.1:1', evaluation: 'http://127.0.0.1:1', worker: workerUrl } }), {
    db, logger: false, runner: { pollMs: 50, retryDelayMs: 50, workerClient: { retries: 0 }, ...runner },
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address() as { port: number }
  return { app, baseUrl: `http://127.0.0.1:${address.port}` }
}

/** Polls a condition (no fixed sleeps). */
export async function until(cond: () => Promise<boolean>, ms = 60_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
