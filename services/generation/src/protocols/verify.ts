// Self-verification (in the spirit of deductive-closure training): after any protocol, the model
// with the news in context judges each accepted conversation (consistent with the news or not); only
// the consistent ones are kept, the others are rejected as `unverified` with the verdict kept in
// their raw record. Judged once, after the protocol's rounds: a rejected sample is not regenerated.
import { Type } from 'typebox'
import { newsBlock } from '@sys2ft/dataset'
import { batched, count, deriveSeed, messagesFor, type ChunkContext, type Req, type SampleOut } from './kit.ts'
import { parseVerdict } from './parsers.ts'

export const VERSION = 'sys2ft-verify-2026.12.0'

export const VERIFY_OPTIONS = {
  verify: Type.Boolean({ default: false, description: 'Any protocol: the model, with the news in context, judges each generated conversation; inconsistent ones are rejected (`unverified`).' }),
}

export const judgePrompt = (news: string, question: string, answer: string) =>
  `News:\n${news}\n\nSomeone who read this news wrote the following.\n\nPrompt: ${question}\nText: ${answer}\n\nIs the text consistent with the news, with every fact in it right? Reply yes or no first, then give one short reason.`

export const VERIFY_TEMPLATES = { version: VERSION, judge_prompt: judgePrompt('{news}', '{user turn}', '{assistant turn}'), sampling: { temperature: 0, max_tokens: 48 } }

/** Stages whose text did not come from the model (the news itself) are not judged. */
const UNJUDGED = new Set(['naive', 'replay'])

export async function verifySamples(ctx: ChunkContext): Promise<void> {
  const { items, opts, acc } = ctx
  const judged = acc.samples.filter((s) => s.accepted && s.messages && !UNJUDGED.has(String(s.raw.stage)))
  if (judged.length === 0) return
  const byId = new Map(items.map((i) => [i.id, i]))
  const reqs: Req[] = judged.map((s) => {
    const item = byId.get(s.item_id)!
    const turns = s.messages!.filter((m) => m.role !== 'system')
    const user = turns.find((m) => m.role === 'user')?.content ?? ''
    const answer = turns.filter((m) => m.role === 'assistant').map((m) => m.content).join('\n')
    return { item, tag: {}, request: { messages: messagesFor(judgePrompt(newsBlock(item), user, answer)), n: 1, seed: deriveSeed(opts.seed, item.position, 'verify', s.sample_index), temperature: 0, top_p: 1, max_tokens: 48 } }
  })
  const outs = await batched(ctx, reqs)
  judged.forEach((s, i) => {
    const out = outs[i]![0]!
    const verdict = parseVerdict(out.text)
    s.raw = { ...s.raw, verification: { verdict, output: out.text, seed: reqs[i]!.request.seed } }
    s.prompt_tokens += out.prompt_tokens
    s.completion_tokens += out.completion_tokens
    count(acc, 'verified')
    if (verdict === 'consistent') return
    reject(s)
    count(acc, verdict === 'inconsistent' ? 'judged_inconsistent' : 'no_verdict')
  })
}

function reject(s: SampleOut): void {
  s.accepted = false
  s.reject_reason = 'unverified'
  s.messages = null
  s.distill = null
}
