// The stage paraphrase and implication share: one prompt per variant and item, `n` samples each,
// each parsed as free text; rejected ones are generated again in the next round.
import { newsBlock } from '@sys2ft/dataset'
import { ItemState, batched, conversation, deriveSeed, messagesFor, sampling, spread, type ChunkContext, type CompletionOut, type Req } from './kit.ts'
import { parseFreeText, type RejectReason } from './parsers.ts'
import type { ProtocolModule } from './protocol.ts'

export interface FreeTextSpec<Name extends string> {
  name: Name
  description: string
  /** The ways of asking (styles, angles): one prompt per variant and item. */
  variants: readonly string[]
  /** The user turns of the training conversations, in turn (the news is never in them). */
  users: readonly string[]
  prompt: (news: string, variant: string) => string
  templates: { version: string } & Record<string, unknown>
}

export function freeTextProtocol<Name extends string>(spec: FreeTextSpec<Name>): ProtocolModule<Name> {
  return { name: spec.name, description: spec.description, usesModel: true, templates: spec.templates, run: (ctx) => freeText(spec, ctx) }
}

async function freeText(spec: FreeTextSpec<string>, ctx: ChunkContext): Promise<ItemState[]> {
  const { items, opts } = ctx
  const states = items.map((i) => new ItemState(i))
  for (let round = 0; round < opts.max_rounds; round++) {
    const reqs: Req[] = []
    for (const st of states) {
      const need = opts.samples_per_news - st.accepted
      spread(need, spec.variants.length).forEach((n, v) => {
        if (n === 0) return
        reqs.push({ item: st.item, tag: { variant: v, round }, request: { messages: messagesFor(spec.prompt(newsBlock(st.item), spec.variants[v]!)), n, seed: deriveSeed(opts.seed, st.item.position, round, v), ...sampling(opts) } })
      })
    }
    if (reqs.length === 0) break
    const outs = await batched(ctx, reqs)
    reqs.forEach((r, k) => {
      const st = states[items.indexOf(r.item)]!
      outs[k]!.forEach((c, j) => {
        addFreeText(ctx, st, c, (index) => spec.users[index % spec.users.length]!, { stage: spec.name, ...r.tag, completion: j, seed: r.request.seed }, j === 0 ? c.prompt_tokens : 0)
      })
    })
  }
  return states
}

/**
 * One completion read as free text (a rewrite, study notes, a passage), recorded with its raw output:
 * accepted into the item's samples as a conversation (the `user` turn for its index, then the text)
 * unless it fails to parse or repeats one. Returns the rejection reason, null when accepted.
 */
export function addFreeText(ctx: ChunkContext, st: ItemState, c: CompletionOut, user: (index: number) => string, raw: Record<string, unknown>, promptTokens: number): RejectReason | null {
  const parsed = parseFreeText(c.text, c.finish_reason, st.item.text)
  const reason = st.take(parsed)
  const index = st.next++
  ctx.acc.samples.push({
    item_id: st.item.id,
    sample_index: index,
    accepted: !reason,
    reject_reason: reason,
    messages: reason ? null : conversation(st.item, [{ role: 'user', content: user(index) }, { role: 'assistant', content: (parsed as { value: string }).value }], ctx.opts),
    raw: { ...raw, output: c.text, finish_reason: c.finish_reason },
    prompt_tokens: promptTokens,
    completion_tokens: c.completion_tokens,
  })
  return reason
}
