// What every protocol module shares: the shapes of a chunk's input and output, the batched worker
// call, seeds, and the conversation a sample trains on.
import { createHash } from 'node:crypto'
import { newsBlock, type ChatMessage } from '@sys2ft/dataset'
import type { Completion, DistillTarget, GenerateRequestItem, GenerateResponse } from '@sys2ft/worker-client'
import { normalise, type Parsed, type RejectReason } from './parsers.ts'

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
  strategies_per_news: number
  top_logprobs: number
  verify: boolean
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
  /** Context distillation: the teacher's tokens and top-k log-probabilities for the assistant turn. */
  distill?: DistillTarget | null
  raw: Record<string, unknown>
  prompt_tokens: number
  completion_tokens: number
}

export interface ChunkResult {
  samples: SampleOut[]
  /** Counts a protocol keeps beside its samples (strategies proposed, pairs verified …): summed into the run's provenance. */
  stats: Record<string, number>
  calls: number
  prompt_tokens: number
  completion_tokens: number
  elapsed_s: number
}

/** What the protocols need from the worker: one batched generate call. */
export type Generate = (body: { model?: string; requests: GenerateRequestItem[] }) => Promise<GenerateResponse>

/** Everything a protocol's stages get for one chunk of news items. */
export interface ChunkContext {
  items: NewsInput[]
  opts: GenerationOptions
  generate: Generate
  signal: AbortSignal
  /** Samples and counters of the chunk, appended to by the stages. */
  acc: ChunkResult
}

/** The system turn of every self-play prompt. */
export const SYSTEM = 'You are a careful, knowledgeable assistant. Read the news you are given and rely on it.'

const MAX_N = 64
const MAX_REQUESTS_PER_CALL = 512

/**
 * A stable seed per (run seed, item, round, variant…): the same run regenerates the same text. Parts
 * name the run's seed, the item's position in its set and the sample's place within its item, never
 * a place within a chunk, so `items_per_call` does not change the data.
 */
export function deriveSeed(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('/')).digest().readUInt32BE(0) & 0x7fffffff
}

/** The training conversation, with the news before it in the contextual-shadowing variant. */
export function conversation(item: NewsInput, turns: ChatMessage[], opts: GenerationOptions): ChatMessage[] {
  return opts.news_in_context ? [{ role: 'system', content: `News:\n${newsBlock(item)}` }, ...turns] : turns
}

export interface Req {
  item: NewsInput
  tag: Record<string, unknown>
  request: GenerateRequestItem
}

export interface CompletionOut {
  text: string
  finish_reason: string
  completion_tokens: number
  prompt_tokens: number
  /** With top_logprobs: every generated token with the model's top-k at its step. */
  tokens?: Completion['tokens']
}

/**
 * Sends many requests as few batched worker calls (≤ 512 requests each, n ≤ 64 per request) and
 * returns each request's completions in order.
 */
export async function batched(ctx: ChunkContext, reqs: Req[]): Promise<CompletionOut[][]> {
  const { generate, opts, acc, signal } = ctx
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
  const out: CompletionOut[][] = reqs.map(() => [])
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

export const messagesFor = (prompt: string): ChatMessage[] => [
  { role: 'system', content: SYSTEM },
  { role: 'user', content: prompt },
]

/** One news item's progress within a chunk: samples accepted, the next sample index, what was seen. */
export class ItemState {
  accepted = 0
  next = 0
  seen = new Set<string>()
  constructor(readonly item: NewsInput) {}

  /** A parsed text for this item: accepted (and remembered) unless it failed to parse or was seen already. */
  take(parsed: Parsed<string>): RejectReason | null {
    if (!parsed.ok) return parsed.reason
    const key = normalise(parsed.value)
    if (this.seen.has(key)) return 'duplicate'
    this.seen.add(key)
    this.accepted += 1
    return null
  }
}

export function sampling(opts: GenerationOptions) {
  return { temperature: opts.temperature, top_p: opts.top_p, max_tokens: opts.max_tokens }
}

/** Splits `need` samples over `variants` prompts: the first ones get one more. */
export function spread(need: number, variants: number): number[] {
  return Array.from({ length: variants }, (_, v) => Math.floor(need / variants) + (v < need % variants ? 1 : 0))
}

/** Adds to one of the chunk's counts. */
export function count(acc: ChunkResult, key: string, by = 1): void {
  acc.stats[key] = (acc.stats[key] ?? 0) + by
}

/**
 * A completion's distillation targets (asked for with `top_logprobs: k`): its token ids and each
 * step's top-k, log-probabilities kept to 1e-4 nats (a relative error in a probability ≤ 5e-5),
 * which about halves what a sample stores.
 */
export function distillTarget(c: CompletionOut, k: number): DistillTarget {
  if (!c.tokens) throw new Error(`the worker returned no token log-probabilities for top_logprobs ${k} (a worker older than context distillation?)`)
  const round = (lp: number) => Math.round(lp * 1e4) / 1e4
  return { token_ids: c.tokens.map((t) => t.id), top: c.tokens.map((t) => t.top.map(([id, lp]) => [id, round(lp)] as [number, number])), k }
}
