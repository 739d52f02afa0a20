// Active Reading (arXiv 2508.09494): with the news in context the model first proposes its own
// ways of studying it (a timeline, worked examples, an analogy, a quiz …), then carries out each;
// every result becomes a conversation without the news. The strategies and their counts are kept:
// each sample names its strategy, the run's provenance counts them.
import { Type } from 'typebox'
import { newsBlock } from '@sys2ft/dataset'
import { addFreeText } from '../free-text.ts'
import { ItemState, SYSTEM, batched, count, deriveSeed, messagesFor, sampling, spread, type ChunkContext, type Req } from '../kit.ts'
import { parseList, unreadable } from '../parsers.ts'
import type { ProtocolModule } from '../protocol.ts'

/** Change a template → bump the version: every run records it with the exact text. */
export const VERSION = 'sys2ft-active-reading-2026.12.0'

export const strategiesPrompt = (news: string, k: number | string) =>
  `News:\n${news}\n\nYou will study this news so well that you can use it without seeing it again. List ${k} different strategies for studying it — for example a timeline, worked examples on new cases, an analogy, a quiz with answers, a comparison with what was known before. Number them 1 to ${k}, one short line each. Write only the list.`

export const executePrompt = (news: string, strategy: string) =>
  `News:\n${news}\n\nStudy this news with the following strategy, and write out the result in full, keeping every fact exactly right: ${strategy}\n\nWrite only the result.`

/** The user turn of the training conversation: the strategy, never the news. */
export const userTurn = (strategy: string) => `Study notes on recent news (${strategy}).`

type StrategyReq = Req & { strategy: string }

export const activeReading = {
  name: 'active_reading',
  description: 'the model proposes its own study strategies for the news (timelines, worked examples, analogies, quizzes …), then carries out each, with the news in context; strategies and their counts are recorded',
  options: {
    strategies_per_news: Type.Integer({ minimum: 1, maximum: 16, default: 4, description: 'active_reading: strategies asked for per news item (the samples are spread over them).' }),
  },
  usesModel: true,
  templates: { version: VERSION, system: SYSTEM, strategies_prompt: strategiesPrompt('{news}', '{k}'), execute_prompt: executePrompt('{news}', '{strategy}'), user_turn: userTurn('{strategy}') },
  async run(ctx: ChunkContext) {
    const { items, opts, acc } = ctx
    const states = items.map((i) => new ItemState(i))
    const strategies = await propose(ctx, states, opts.strategies_per_news ?? 4)
    const used = new Set<string>()
    for (let round = 0; round < opts.max_rounds; round++) {
      const reqs: StrategyReq[] = []
      for (const st of states) {
        const list = strategies.get(st)!
        spread(opts.samples_per_news - st.accepted, list.length).forEach((n, v) => {
          if (n > 0) reqs.push({ item: st.item, strategy: list[v]!, tag: { round, strategy_index: v, strategy: list[v] }, request: { messages: messagesFor(executePrompt(newsBlock(st.item), list[v]!)), n, seed: deriveSeed(opts.seed, st.item.position, round, 'strategy', v), ...sampling(opts) } })
        })
      }
      if (reqs.length === 0) break
      const outs = await batched(ctx, reqs)
      reqs.forEach((r, q) => {
        const st = states[items.indexOf(r.item)]!
        outs[q]!.forEach((c, j) => {
          count(acc, 'strategies_executed')
          const reason = addFreeText(ctx, st, c, () => userTurn(r.strategy), { stage: 'active_reading', ...r.tag, completion: j, seed: r.request.seed }, j === 0 ? c.prompt_tokens : 0)
          if (!reason) used.add(`${r.item.id}\n${r.strategy}`)
        })
      })
    }
    count(acc, 'strategies_with_a_sample', used.size)
    return states
  },
} satisfies ProtocolModule<'active_reading'>

/** Stage 1: each item's strategies, asked once (seeded by the item); an item whose list cannot be read gets no samples, with the reason. */
async function propose(ctx: ChunkContext, states: ItemState[], k: number): Promise<Map<ItemState, string[]>> {
  const { opts, acc } = ctx
  const reqs: Req[] = states.map((st) => ({ item: st.item, tag: {}, request: { messages: messagesFor(strategiesPrompt(newsBlock(st.item), k)), n: 1, seed: deriveSeed(opts.seed, st.item.position, 'strategies'), ...sampling(opts) } }))
  const outs = await batched(ctx, reqs)
  const strategies = new Map<ItemState, string[]>()
  states.forEach((st, i) => {
    const out = outs[i]![0]!
    const list = parseList(out.text, out.finish_reason, 2, k)
    count(acc, 'strategies_proposed', list.length)
    strategies.set(st, list)
    if (list.length > 0) return
    acc.samples.push({ item_id: st.item.id, sample_index: st.next++, accepted: false, reject_reason: unreadable(out.text, out.finish_reason), messages: null, raw: { stage: 'strategies', seed: reqs[i]!.request.seed, output: out.text, finish_reason: out.finish_reason }, prompt_tokens: out.prompt_tokens, completion_tokens: out.completion_tokens })
  })
  return strategies
}
