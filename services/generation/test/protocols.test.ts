// The protocol registry, and what the protocols' data may depend on: a scripted worker stands in
// for the model, so the checks are exact.
import t from 'tap'
import type { GenerateRequestItem, GenerateResponse } from '@sys2ft/worker-client'
import { PROTOCOLS, ProtocolSchema, REGISTRY, generateChunk, type GenerationOptions, type NewsInput } from '../src/protocols/index.ts'
import { CreateRunBody, GenerationOptions as OptionsSchema } from '../src/schemas/generation-runs.ts'

const items: NewsInput[] = [0, 1, 2].map((i) => ({ id: `item-${i}`, position: i, title: `News ${i}`, date: '2026-03-0' + (i + 1), text: `Item ${i} says that the widget of kind ${i} now costs ${i + 3} coins in every shop of the town of Umbra.` }))
const opts: GenerationOptions = { samples_per_news: 3, temperature: 1, top_p: 1, max_tokens: 64, seed: 11, news_in_context: false, replay: 0, items_per_call: 8, questions_per_call: 2, max_rounds: 2, strategies_per_news: 2, top_logprobs: 4, verify: false }

/** What the scripted model writes for each kind of prompt: seeds and completions named, so where a seed goes is visible. */
function reply(prompt: string, seed: number | null | undefined, c: number): string {
  if (prompt.includes('different questions')) return `1. What does seed ${seed} completion ${c} ask first?\n2. What does seed ${seed} completion ${c} ask next?`
  if (prompt.includes('strategies for studying')) return `1. A timeline of events\n2. Worked examples on new cases\n3. A timeline of events`
  if (prompt.includes('with the following strategy')) return `Following the strategy with seed ${seed} completion ${c}, the widget now costs more coins in every shop than it did before this year.`
  if (prompt.includes('key entities')) return '1. widget\n2. coins\n3. Umbra'
  if (prompt.includes('how the following relate')) return `Passage ${seed}: in Umbra the widget is priced in coins, and the price of the widget changed in every shop there this year.`
  if (prompt.includes('Is the text consistent')) return JUDGE(prompt)
  return `The answer drawn with seed ${seed} is that it holds.`
}
let JUDGE = (_prompt: string) => 'Yes, it matches.'

async function scripted(body: { requests: GenerateRequestItem[] }): Promise<GenerateResponse> {
  const results = body.requests.map((r, index) => {
    const prompt = r.messages?.at(-1)?.content ?? ''
    const completions = Array.from({ length: r.n ?? 1 }, (_, c) => ({
      text: reply(prompt, r.seed, c),
      finish_reason: 'stop' as const,
      completion_tokens: 8,
      // with top_logprobs, a 3-token trace: ids from the seed, the k alternatives at made-up log-probabilities
      ...(r.top_logprobs && { tokens: [0, 1, 2].map((j) => ({ id: ((r.seed ?? 0) + j) % 1000, logprob: -0.123456789, top: Array.from({ length: r.top_logprobs! }, (_, i) => [i, -0.000012345 - i] as [number, number]) })) }),
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
  t.same(PROTOCOLS, ['naive', 'paraphrase', 'implication', 'self_qa', 'active_reading', 'entigraph', 'context_distillation'])
  t.same(ProtocolSchema.anyOf.map((s: { const: string }) => s.const), PROTOCOLS)
  t.same(CreateRunBody.properties.protocol.anyOf.map((s: { const: string }) => s.const), PROTOCOLS, 'POST /generation-runs lists exactly the registered protocols')
  for (const name of PROTOCOLS) {
    t.match(described(ProtocolSchema), `\`${name}\`: ${REGISTRY[name].description}`, `${name} is described`)
    t.match(REGISTRY[name].templates.version, /^sys2ft-[a-z-]+-\d{4}\.\d{2}\.\d+$/, `${name}'s templates are versioned`)
  }
  t.ok('questions_per_call' in OptionsSchema.properties, "a protocol's own options join the generation options")
  t.match(described(OptionsSchema.properties.questions_per_call), /^self_qa:/, 'and say whose they are')
})

const signal = new AbortController().signal

t.test('active_reading: strategies proposed once per item, carried out, counted', async (t) => {
  const r = await generateChunk('active_reading', items, { ...opts, samples_per_news: 4 }, scripted, signal)
  const accepted = r.samples.filter((s) => s.accepted)
  t.equal(accepted.length, 12, '4 per item')
  t.same(new Set(accepted.map((s) => s.raw.strategy)), new Set(['A timeline of events', 'Worked examples on new cases']), 'the duplicate strategy is dropped')
  t.same(r.stats, { strategies_proposed: 6, strategies_executed: 12, strategies_with_a_sample: 6 })
  t.match(accepted[0]!.messages, [{ role: 'user', content: /^Study notes on recent news \(/ }, { role: 'assistant' }])
  t.notOk(JSON.stringify(accepted.map((s) => s.messages)).includes('Umbra.'), 'the news is not in the conversations')
  t.same(byItem((await generateChunk('active_reading', [items[1]!], { ...opts, samples_per_news: 4 }, scripted, signal)).samples).get('item-1'), byItem(r.samples).get('item-1'), 'the chunk’s make-up changes nothing')
})

t.test('entigraph: entities, then pairs before triples; trained with the loss on every token', async (t) => {
  const r = await generateChunk('entigraph', [items[0]!], { ...opts, samples_per_news: 4 }, scripted, signal)
  const accepted = r.samples.filter((s) => s.accepted)
  t.same(accepted.map((s) => s.raw.entities), [['widget', 'coins'], ['widget', 'Umbra'], ['coins', 'Umbra'], ['widget', 'coins', 'Umbra']])
  t.same(r.stats, { entities: 3, pairs_written: 3, triples_written: 1 })
  t.equal(accepted[0]!.messages![0]!.content, 'On widget and coins:')
  t.same(REGISTRY.entigraph.training, { loss_on: 'all' })
})

t.test('verify: the model judges each accepted conversation; only consistent ones are kept', async (t) => {
  JUDGE = (prompt) => (prompt.includes('completion 0') ? 'Yes, consistent.' : prompt.includes('completion 1') ? 'No: the price is wrong.' : 'Hard to say.')
  t.teardown(() => void (JUDGE = () => 'Yes, it matches.'))
  const plain = await generateChunk('active_reading', [items[0]!], { ...opts, samples_per_news: 4, max_rounds: 1 }, scripted, signal)
  const verified = await generateChunk('active_reading', [items[0]!], { ...opts, samples_per_news: 4, max_rounds: 1, verify: true, replay: 1 }, scripted, signal)
  t.equal(plain.samples.filter((s) => s.accepted).length, 4)
  const judged = verified.samples.filter((s) => s.raw.verification)
  t.equal(judged.length, 4, 'every accepted generated sample judged; the replay is not')
  t.same(judged.map((s) => [s.accepted, s.reject_reason, (s.raw.verification as { verdict: string | null }).verdict]), [
    [true, null, 'consistent'],
    [false, 'unverified', 'inconsistent'],
    [true, null, 'consistent'],
    [false, 'unverified', 'inconsistent'],
  ])
  t.ok(judged.filter((s) => !s.accepted).every((s) => s.messages === null), 'a rejected sample trains nothing')
  t.same(verified.stats, { ...plain.stats, verified: 4, judged_inconsistent: 2 })
  t.ok(verified.samples.some((s) => s.raw.stage === 'replay' && s.accepted), 'replay copies stay')
})

t.test('context_distillation: Self-QA’s pairs, each answer with the teacher’s top-k targets; trained on KL', async (t) => {
  const cd = await generateChunk('context_distillation', items, opts, scripted, signal)
  const qa = await generateChunk('self_qa', items, opts, scripted, signal)
  const accepted = cd.samples.filter((s) => s.accepted)
  t.equal(accepted.length, 9, '3 per item')
  t.same(cd.samples.map((s) => [s.accepted, s.messages, s.raw.answer_seed]), qa.samples.map((s) => [s.accepted, s.messages, s.raw.answer_seed]), 'the same questions and answers as Self-QA: only the targets are added')
  t.ok(accepted.every((s) => s.messages!.length === 2 && s.messages![0]!.role === 'user' && !s.messages![0]!.content.includes('Umbra')), 'the student sees the question without the news')
  const d = accepted[0]!.distill!
  t.equal(d.k, 4, 'k is the top_logprobs option')
  t.same(d.token_ids, [0, 1, 2].map((j) => ((accepted[0]!.raw.answer_seed as number) + j) % 1000), 'the teacher’s own token ids')
  t.same(d.top[0]!.slice(0, 2), [[0, -0], [1, -1]], 'top-k kept per token, log-probabilities to 1e-4')
  t.ok(cd.samples.filter((s) => !s.accepted).every((s) => !s.distill), 'a rejected sample keeps no targets')
  t.same(REGISTRY.context_distillation.training, { objective: 'distill' })
  t.match(REGISTRY.context_distillation.templates, { answer_prompt: REGISTRY.self_qa.templates.answer_prompt, questions_prompt: REGISTRY.self_qa.templates.questions_prompt })
})

t.test('context_distillation: an answer that pastes the news is rejected; a verified-away sample drops its targets', async (t) => {
  const news = items[0]!.text
  const pasting = async (body: { requests: GenerateRequestItem[] }) => {
    const res = await scripted(body)
    for (const [i, r] of res.results.entries()) if (body.requests[i]!.top_logprobs) for (const c of r.completions) c.text = `As the news says: ${news}`
    return res
  }
  const pasted = await generateChunk('context_distillation', [items[0]!], { ...opts, max_rounds: 1 }, pasting, signal)
  const answers = pasted.samples.filter((s) => s.raw.stage === 'answer')
  t.ok(answers.length > 0 && answers.every((s) => s.reject_reason === 'copies_news' && !s.distill), 'copies_news, no targets')
  JUDGE = (prompt) => (prompt.includes('completion 0') ? 'No.' : 'Yes.')
  t.teardown(() => void (JUDGE = () => 'Yes, it matches.'))
  const verified = await generateChunk('context_distillation', [items[0]!], { ...opts, verify: true, max_rounds: 1 }, scripted, signal)
  const judged = verified.samples.filter((s) => s.raw.verification)
  t.ok(judged.some((s) => !s.accepted) && judged.some((s) => s.accepted), 'some kept, some not')
  t.ok(judged.every((s) => (s.accepted ? s.distill?.k === 4 : s.distill === null)), 'only kept samples keep their targets')
})
