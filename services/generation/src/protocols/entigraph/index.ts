// EntiGraph (Yang et al., ICLR 2025, "Synthetic continued pretraining"): with the news in context
// the model lists the news's entities, then writes about how pairs (and, once the pairs run out,
// triples) of them relate. The passages are continued-pretraining text: trained with the loss on
// every token (`training.loss_on: all`), not as answers to a question.
import { newsBlock } from '@sys2ft/dataset'
import { addFreeText } from '../free-text.ts'
import { ItemState, SYSTEM, batched, count, deriveSeed, messagesFor, sampling, type ChunkContext, type Req } from '../kit.ts'
import { parseEntities, unreadable } from '../parsers.ts'
import type { ProtocolModule } from '../protocol.ts'

/** Change a template → bump the version: every run records it with the exact text. */
export const VERSION = 'sys2ft-entigraph-2026.12.0'
const MAX_ENTITIES = 12

export const entitiesPrompt = (news: string) =>
  `News:\n${news}\n\nList the key entities of this news — people, organisations, places, objects, concepts, rules, numbers and dates — up to ${MAX_ENTITIES}, one per line, each as a short name. Number them. Write only the list.`

export const relationPrompt = (news: string, entities: string[]) =>
  `News:\n${news}\n\nWrite a short passage about how the following relate to each other in this news, keeping every fact exactly right: ${entities.join('; ')}.\n\nWrite only the passage.`

/** The user turn of the training text: which entities it is about (the loss is on every token anyway). */
export const topic = (entities: string[]) => `On ${entities.join(' and ')}:`

/** Pairs first, then triples, in a fixed order: the k-th sample of an item always covers the same entities. */
export function combinations(entities: string[], want: number): string[][] {
  const out: string[][] = []
  for (let i = 0; i < entities.length && out.length < want; i++) for (let j = i + 1; j < entities.length && out.length < want; j++) out.push([entities[i]!, entities[j]!])
  for (let i = 0; i < entities.length && out.length < want; i++)
    for (let j = i + 1; j < entities.length && out.length < want; j++) for (let k = j + 1; k < entities.length && out.length < want; k++) out.push([entities[i]!, entities[j]!, entities[k]!])
  return out
}

export const entigraph = {
  name: 'entigraph',
  description: 'the model lists the news’s entities, then writes how pairs and triples of them relate, with the news in context; trained as continued-pretraining text (loss on every token)',
  usesModel: true,
  training: { loss_on: 'all' },
  templates: { version: VERSION, system: SYSTEM, entities_prompt: entitiesPrompt('{news}'), relation_prompt: relationPrompt('{news}', ['{entity 1}', '{entity 2}']), topic: topic(['{entity 1}', '{entity 2}']) },
  async run(ctx: ChunkContext) {
    const { items, opts, acc } = ctx
    const states = items.map((i) => new ItemState(i))
    const ereqs: Req[] = states.map((st) => ({ item: st.item, tag: {}, request: { messages: messagesFor(entitiesPrompt(newsBlock(st.item))), n: 1, seed: deriveSeed(opts.seed, st.item.position, 'entities'), ...sampling(opts) } }))
    const eouts = await batched(ctx, ereqs)
    // each item's combinations, in order; `cursor` is the next one to write about
    const plan = new Map<ItemState, { combos: string[][]; cursor: number }>()
    states.forEach((st, i) => {
      const out = eouts[i]![0]!
      const entities = parseEntities(out.text, out.finish_reason, MAX_ENTITIES)
      count(acc, 'entities', entities.length)
      const combos = entities.length >= 2 ? combinations(entities, opts.samples_per_news * opts.max_rounds) : []
      plan.set(st, { combos, cursor: 0 })
      if (combos.length > 0) return
      acc.samples.push({ item_id: st.item.id, sample_index: st.next++, accepted: false, reject_reason: unreadable(out.text, out.finish_reason), messages: null, raw: { stage: 'entities', seed: ereqs[i]!.request.seed, entities, output: out.text, finish_reason: out.finish_reason }, prompt_tokens: out.prompt_tokens, completion_tokens: out.completion_tokens })
    })
    for (let round = 0; round < opts.max_rounds; round++) {
      const reqs: (Req & { entities: string[] })[] = []
      for (const st of states) {
        const p = plan.get(st)!
        for (let need = opts.samples_per_news - st.accepted; need > 0 && p.cursor < p.combos.length; need--) {
          const index = p.cursor++
          const entities = p.combos[index]!
          reqs.push({ item: st.item, entities, tag: { round, combination: index, entities }, request: { messages: messagesFor(relationPrompt(newsBlock(st.item), entities)), n: 1, seed: deriveSeed(opts.seed, st.item.position, 'relation', index), ...sampling(opts) } })
        }
      }
      if (reqs.length === 0) break
      const outs = await batched(ctx, reqs)
      reqs.forEach((r, q) => {
        const st = states[items.indexOf(r.item)]!
        const c = outs[q]![0]!
        const reason = addFreeText(ctx, st, c, () => topic(r.entities), { stage: 'entigraph', ...r.tag, seed: r.request.seed }, c.prompt_tokens)
        if (!reason) count(acc, r.entities.length === 2 ? 'pairs_written' : 'triples_written')
      })
    }
    return states
  },
} satisfies ProtocolModule<'entigraph'>
