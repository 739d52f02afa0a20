import { createHash } from 'node:crypto'
import { naiveConversation, newsBlock, type ChatMessage } from '@sys2ft/dataset'
import type { GenerateRequestItem, GenerateResponse } from '@sys2ft/worker-client'
import { IMPLICATION_ANGLES, IMPLICATION_USER, PARAPHRASE_STYLES, PARAPHRASE_USER, SYSTEM, answerPrompt, implicationPrompt, paraphrasePrompt, questionsPrompt } from './templates.ts'
import { normalise, parseAnswer, parseFreeText, parseQuestions, type RejectReason } from './parsers.ts'

export const PROTOCOLS = ['naive', 'paraphrase', 'implication', 'self_qa'] as const
export type Protocol = (typeof PROTOCOLS)[number]

export interface GenerationOptions {
  samples_per_news: number
  temperature: number
  top_p: number
  max_tokens: number
  seed: number
  model?: string | undefined
  news_in_context: boolean
  replay: number
  items_per_call: number
  questions_per_call: number
  max_rounds: number
}

export interface NewsInput {
  id: string
  position: number
  title: string
  date: string
  text: string
}

export interface SampleOut {
  item_id: string
  sample_index: number
  accepted: boolean
  reject_reason: RejectReason | null
  messages: ChatMessage[] | null
  raw: Record<string, unknown>
  prompt_tokens: number
  completion_tokens: number
}

export interface ChunkResult {
  samples: SampleOut[]
  calls: number
  prompt_tokens: number
  completion_tokens: number
  elapsed_s: number
}

/** What the protocols need from the worker: one batched generate call. */
export type Generate = (body: { model?: string; requests: GenerateRequestItem[] }) => Promise<GenerateResponse>

const MAX_N = 64
const MAX_REQUESTS_PER_CALL = 512

/** A stable seed per (run seed, item, round, variant…): the same run regenerates the same text. */
export function deriveSeed(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('/')).digest().readUInt32BE(0) & 0x7fffffff
}

/** The training conversation, with the news before it in the contextual-shadowing variant. */
function conversation(item: NewsInput, turns: ChatMessage[], opts: GenerationOptions): ChatMessage[] {
  return opts.news_in_context ? [{ role: 'system', content: `News:\n${newsBlock(item)}` }, ...turns] : turns
}

interface Req {
  item: NewsInput
  tag: Record<string, unknown>
  request: GenerateRequestItem
}

/**
 * Sends many requests as few batched worker calls (≤ 512 requests each, n ≤ 64 per request) and
 * returns each request's completions in order.
 */
async function batched(generate: Generate, reqs: Req[], opts: GenerationOptions, acc: ChunkResult, signal: AbortSignal) {
  const expanded: { owner: number; request: GenerateRequestItem }[] = []
  reqs.forEach((r, owner) => {
    let left = r.request.n ?? 1
    let part = 0
    while (left > 0) {
      const n = Math.min(left, MAX_N)
      expanded.push({ owner, request: { ...r.request, n, seed: part === 0 ? r.request.seed : deriveSeed(r.request.seed ?? 0, 'part', part) } })
      left -= n
      part += 1
    }
  })
  const out: { text: string; finish_reason: string; completion_tokens: number; prompt_tokens: number }[][] = reqs.map(() => [])
  for (let i = 0; i < expanded.length; i += MAX_REQUESTS_PER_CALL) {
    if (signal.aborted) throw signal.reason ?? new Error('aborted')
    const slice = expanded.slice(i, i + MAX_REQUESTS_PER_CALL)
    const started = performance.now()
    const res = await generate({ ...(opts.model ? { model: opts.model } : {}), requests: slice.map((s) => s.request) })
    acc.elapsed_s += (performance.now() - started) / 1000
    acc.calls += 1
    acc.prompt_tokens += res.usage.prompt_tokens
    acc.completion_tokens += res.usage.completion_tokens
    res.results.forEach((r, j) => {
      const owner = slice[j]!.owner
      for (const c of r.completions) out[owner]!.push({ ...c, prompt_tokens: r.prompt_tokens })
    })
  }
  return out
}

const messagesFor = (prompt: string): ChatMessage[] => [
  { role: 'system', content: SYSTEM },
  { role: 'user', content: prompt },
]

class ItemState {
  accepted = 0
  next = 0
  seen = new Set<string>()
  constructor(readonly item: NewsInput) {}
}

function sampling(opts: GenerationOptions) {
  return { temperature: opts.temperature, top_p: opts.top_p, max_tokens: opts.max_tokens }
}

/** Splits `need` samples over `variants` prompts: the first ones get one more. */
function spread(need: number, variants: number): number[] {
  return Array.from({ length: variants }, (_, v) => Math.floor(need / variants) + (v < need % variants ? 1 : 0))
}

async function freeText(protocol: 'paraphrase' | 'implication', items: NewsInput[], opts: GenerationOptions, generate: Generate, signal: AbortSignal, acc: ChunkResult) {
  const variants: readonly string[] = protocol === 'paraphrase' ? PARAPHRASE_STYLES : IMPLICATION_ANGLES
  const users: readonly string[] = protocol === 'paraphrase' ? PARAPHRASE_USER : IMPLICATION_USER
  const states = items.map((i) => new ItemState(i))
  for (let round = 0; round < opts.max_rounds; round++) {
    const reqs: Req[] = []
    for (const st of states) {
      const need = opts.samples_per_news - st.accepted
      spread(need, variants.length).forEach((n, v) => {
        if (n === 0) return
        const prompt = protocol === 'paraphrase' ? paraphrasePrompt(newsBlock(st.item), variants[v]!) : implicationPrompt(newsBlock(st.item), variants[v]!)
        reqs.push({ item: st.item, tag: { variant: v, round }, request: { messages: messagesFor(prompt), n, seed: deriveSeed(opts.seed, st.item.position, round, v), ...sampling(opts) } })
      })
    }
    if (reqs.length === 0) break
    const outs = await batched(generate, reqs, opts, acc, signal)
    reqs.forEach((r, k) => {
      const st = states[items.indexOf(r.item)]!
      outs[k]!.forEach((c, j) => {
        const parsed = parseFreeText(c.text, c.finish_reason, r.item.text)
        const key = parsed.ok ? normalise(parsed.value) : ''
        const reason: RejectReason | null = !parsed.ok ? parsed.reason : st.seen.has(key) ? 'duplicate' : null
        const index = st.next++
        if (!reason) {
          st.seen.add(key)
          st.accepted += 1
        }
        const user = users[index % users.length]!
        acc.samples.push({
          item_id: r.item.id,
          sample_index: index,
          accepted: !reason,
          reject_reason: reason,
          messages: reason ? null : conversation(r.item, [{ role: 'user', content: user }, { role: 'assistant', content: (parsed as { value: string }).value }], opts),
          raw: { stage: protocol, ...r.tag, completion: j, seed: r.request.seed, output: c.text, finish_reason: c.finish_reason },
          prompt_tokens: j === 0 ? c.prompt_tokens : 0,
          completion_tokens: c.completion_tokens,
        })
      })
    })
  }
  return states
}

async function selfQa(items: NewsInput[], opts: GenerationOptions, generate: Generate, signal: AbortSignal, acc: ChunkResult) {
  const states = items.map((i) => new ItemState(i))
  const k = opts.questions_per_call
  for (let round = 0; round < opts.max_rounds; round++) {
    // Stage 1: with the news in context, the model writes numbered questions (1.5× what is still needed).
    const qreqs: Req[] = []
    for (const st of states) {
      const need = opts.samples_per_news - st.accepted
      if (need <= 0) continue
      const calls = Math.ceil((need * 1.5) / k)
      qreqs.push({ item: st.item, tag: { round }, request: { messages: messagesFor(questionsPrompt(newsBlock(st.item), k)), n: calls, seed: deriveSeed(opts.seed, st.item.position, round, 'questions'), ...sampling(opts) } })
    }
    if (qreqs.length === 0) break
    const qouts = await batched(generate, qreqs, opts, acc, signal)
    const chosen: { st: ItemState; question: string; raw: Record<string, unknown> }[] = []
    qreqs.forEach((r, i) => {
      const st = states[items.indexOf(r.item)]!
      let wanted = opts.samples_per_news - st.accepted
      qouts[i]!.forEach((c, j) => {
        for (const cand of parseQuestions(c.text, c.finish_reason, r.item.text)) {
          const raw = { stage: 'question', round, completion: j, seed: r.request.seed, line: cand.text, output: c.text, finish_reason: c.finish_reason }
          const key = cand.parsed.ok ? normalise(cand.parsed.value) : ''
          const reason: RejectReason | null = !cand.parsed.ok ? cand.parsed.reason : st.seen.has(key) ? 'duplicate' : null
          if (!reason && wanted <= 0) continue // enough questions: the rest are surplus, not samples
          if (reason) {
            acc.samples.push({ item_id: r.item.id, sample_index: st.next++, accepted: false, reject_reason: reason, messages: null, raw, prompt_tokens: 0, completion_tokens: 0 })
            continue
          }
          st.seen.add(key)
          wanted -= 1
          chosen.push({ st, question: (cand.parsed as { value: string }).value, raw })
        }
      })
    })
    if (chosen.length === 0) continue
    // Stage 2: with the news still in context, the model answers each of its questions.
    const areqs: Req[] = chosen.map((c, i) => ({
      item: c.st.item,
      tag: { round },
      request: { messages: messagesFor(answerPrompt(newsBlock(c.st.item), c.question)), n: 1, seed: deriveSeed(opts.seed, c.st.item.position, round, 'answer', i), ...sampling(opts) },
    }))
    const aouts = await batched(generate, areqs, opts, acc, signal)
    chosen.forEach((c, i) => {
      const a = aouts[i]![0]!
      const parsed = parseAnswer(a.text, a.finish_reason)
      if (parsed.ok) c.st.accepted += 1
      acc.samples.push({
        item_id: c.st.item.id,
        sample_index: c.st.next++,
        accepted: parsed.ok,
        reject_reason: parsed.ok ? null : parsed.reason,
        messages: parsed.ok ? conversation(c.st.item, [{ role: 'user', content: c.question }, { role: 'assistant', content: parsed.value }], opts) : null,
        raw: { ...c.raw, stage: 'answer', question: c.question, answer_seed: areqs[i]!.request.seed, answer: a.text, answer_finish_reason: a.finish_reason },
        prompt_tokens: a.prompt_tokens,
        completion_tokens: a.completion_tokens,
      })
    })
  }
  return states
}

/**
 * Generates the training samples of one chunk of news items under a protocol: few, large worker
 * calls; outputs parsed strictly; shortfalls (rejections) retried for up to `max_rounds` rounds.
 * Replay copies of the news text are added after the generated samples.
 */
export async function generateChunk(protocol: Protocol, items: NewsInput[], opts: GenerationOptions, generate: Generate, signal: AbortSignal): Promise<ChunkResult> {
  const acc: ChunkResult = { samples: [], calls: 0, prompt_tokens: 0, completion_tokens: 0, elapsed_s: 0 }
  let states: ItemState[]
  if (protocol === 'naive') {
    states = items.map((i) => new ItemState(i))
    for (const st of states)
      for (let c = 0; c < opts.samples_per_news; c++)
        acc.samples.push({ item_id: st.item.id, sample_index: st.next++, accepted: true, reject_reason: null, messages: conversation(st.item, naiveConversation(st.item), opts), raw: { stage: 'naive', copy: c }, prompt_tokens: 0, completion_tokens: 0 })
  } else if (protocol === 'self_qa') states = await selfQa(items, opts, generate, signal, acc)
  else states = await freeText(protocol, items, opts, generate, signal, acc)
  for (const st of states)
    for (let c = 0; c < opts.replay; c++)
      acc.samples.push({ item_id: st.item.id, sample_index: st.next++, accepted: true, reject_reason: null, messages: naiveConversation(st.item), raw: { stage: 'replay', copy: c }, prompt_tokens: 0, completion_tokens: 0 })
  return acc
}
