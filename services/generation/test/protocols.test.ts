// The protocol registry, and what the protocols' data may depend on: a scripted worker stands in
// for the model, so the checks are exact.
import t from 'tap'
import type { GenerateRequestItem, GenerateResponse } from '@sys2ft/worker-client'
import { PROTOCOLS, ProtocolSchema, REGISTRY, generateChunk, type GenerationOptions, type NewsInput } from '../src/protocols/index.ts'
import { CreateRunBody, GenerationOptions as OptionsSchema } from '../src/schemas/generation-runs.ts'

const items: NewsInput[] = [0, 1, 2].map((i) => ({ id: `item-${i}`, position: i, title: `News ${i}`, date: '2026-03-0' + (i + 1), text: `Item ${i} says that the widget of kind ${i} now costs ${i + 3} coins in every shop of the town of Umbra.` }))
const opts: GenerationOptions = { samples_per_news: 3, temperature: 1, top_p: 1, max_tokens: 64, seed: 11, news_in_context: false, replay: 0, items_per_call: 8, questions_per_call: 2, max_rounds: 2 }

/** Questions name their seed and completion; answers name their seed: where a seed goes is visible. */
async function scripted(body: { requests: GenerateRequestItem[] }): Promise<GenerateResponse> {
  const results = body.requests.map((r, index) => {
    const prompt = r.messages?.at(-1)?.content ?? ''
    const completions = Array.from({ length: r.n ?? 1 }, (_, c) => ({
      text: prompt.includes('different questions') ? `1. What does seed ${r.seed} completion ${c} ask first?\n2. What does seed ${r.seed} completion ${c} ask next?` : `The answer drawn with seed ${r.seed} is that it holds.`,
      finish_reason: 'stop' as const,
      completion_tokens: 8,
    }))
    return { index, prompt_tokens: 20, completions }
  })
  return { results, usage: { prompt_tokens: 20 * results.length, completion_tokens: 8 * results.length } } as unknown as GenerateResponse
}

const described = (schema: object) => (schema as { description?: string }).description ?? ''

const byItem = (samples: { item_id: string; sample_index: number; messages: unknown; raw: Record<string, unknown> }[]) => {
  const out = new Map<string, unknown[]>()
  for (const s of samples) out.set(s.item_id, [...(out.get(s.item_id) ?? []), { i: s.sample_index, messages: s.messages, seed: s.raw.answer_seed ?? s.raw.seed }])
  return out
}

t.test('self_qa: the data of an item does not depend on which items share its chunk (items_per_call)', async (t) => {
  const signal = new AbortController().signal
  const together = await generateChunk('self_qa', items, opts, scripted, signal)
  const alone = (await Promise.all(items.map((i) => generateChunk('self_qa', [i], opts, scripted, signal)))).flatMap((r) => r.samples)
  t.ok(together.samples.filter((s) => s.accepted).length === 9, '3 accepted per item')
  t.same(byItem(together.samples), byItem(alone), 'same samples, same seeds, item by item')
})

t.test('the registry feeds the HTTP schema', async (t) => {
  t.same(PROTOCOLS, ['naive', 'paraphrase', 'implication', 'self_qa'])
  t.same(ProtocolSchema.anyOf.map((s: { const: string }) => s.const), PROTOCOLS)
  t.same(CreateRunBody.properties.protocol.anyOf.map((s: { const: string }) => s.const), PROTOCOLS, 'POST /generation-runs lists exactly the registered protocols')
  for (const name of PROTOCOLS) {
    t.match(described(ProtocolSchema), `\`${name}\`: ${REGISTRY[name].description}`, `${name} is described`)
    t.match(REGISTRY[name].templates.version, /^sys2ft-selfplay-\d{4}\.\d{2}\.\d+$/, `${name}'s templates are versioned`)
  }
  t.ok('questions_per_call' in OptionsSchema.properties, "a protocol's own options join the generation options")
  t.match(described(OptionsSchema.properties.questions_per_call), /^self_qa:/, 'and say whose they are')
})
