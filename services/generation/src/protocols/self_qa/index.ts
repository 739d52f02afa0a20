// Self-QA: with the news in context the model writes questions about it, then answers each, still
// with the news in context; each pair becomes a conversation without the news.
import { Type } from 'typebox'
import { newsBlock } from '@sys2ft/dataset'
import { ItemState, SYSTEM, batched, conversation, deriveSeed, distillTarget, messagesFor, sampling, type ChunkContext, type Req } from '../kit.ts'
import { normalise, parseAnswer, parseQuestions, type RejectReason } from '../parsers.ts'
import type { ProtocolModule } from '../protocol.ts'

/**
 * Change a template (or what decides the data: seeds, checks) → bump the version: every run records
 * it. 2026.12.0: answer seeds derive from the item, not the place in the chunk; answers that paste
 * the news are rejected (copies_news).
 */
export const VERSION = 'sys2ft-selfplay-2026.12.0'

export const questionsPrompt = (news: string, k: number) =>
  `News:\n${news}\n\nWrite ${k} different questions that someone could ask about this news. Mix questions about its facts with questions that apply it to new cases or ask what follows from it. Each question must make sense on its own, without the news text. Number them 1 to ${k}, one per line, each ending with a question mark. Write only the questions.`

export const answerPrompt = (news: string, question: string) =>
  `News:\n${news}\n\nAnswer the question below using the news. Reason briefly if it helps, then state the answer clearly.\n\nQuestion: ${question}`

/**
 * Self-QA's rounds: questions (stage 1), then an answer to each (stage 2), both with the news in
 * context; what was rejected is asked for again next round. With `topLogprobs` (context
 * distillation) each answer comes with the teacher's top-k log-probabilities per token, kept with
 * the accepted sample as its distillation targets.
 */
export async function runSelfQa(ctx: ChunkContext, { topLogprobs }: { topLogprobs?: number } = {}): Promise<ItemState[]> {
  const { items, opts, acc } = ctx
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
    const qouts = await batched(ctx, qreqs)
    // `asked`: the question's place among its own item's questions this round, so its answer's seed
    // is the same whichever items share the chunk
    const chosen: { st: ItemState; question: string; asked: number; raw: Record<string, unknown> }[] = []
    qreqs.forEach((r, i) => {
      const st = states[items.indexOf(r.item)]!
      let wanted = opts.samples_per_news - st.accepted
      let asked = 0
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
          chosen.push({ st, question: (cand.parsed as { value: string }).value, asked: asked++, raw })
        }
      })
    })
    if (chosen.length === 0) continue
    // Stage 2: with the news still in context, the model answers each of its questions.
    const areqs: Req[] = chosen.map((c) => ({
      item: c.st.item,
      tag: { round },
      request: { messages: messagesFor(answerPrompt(newsBlock(c.st.item), c.question)), n: 1, seed: deriveSeed(opts.seed, c.st.item.position, round, 'answer', c.asked), ...sampling(opts), ...(topLogprobs && { top_logprobs: topLogprobs }) },
    }))
    const aouts = await batched(ctx, areqs)
    chosen.forEach((c, i) => {
      const a = aouts[i]![0]!
      const parsed = parseAnswer(a.text, a.finish_reason, c.st.item.text)
      if (parsed.ok) c.st.accepted += 1
      acc.samples.push({
        item_id: c.st.item.id,
        sample_index: c.st.next++,
        accepted: parsed.ok,
        reject_reason: parsed.ok ? null : parsed.reason,
        messages: parsed.ok ? conversation(c.st.item, [{ role: 'user', content: c.question }, { role: 'assistant', content: parsed.value }], opts) : null,
        ...(topLogprobs && parsed.ok && { distill: distillTarget(a, topLogprobs) }),
        raw: { ...c.raw, stage: 'answer', question: c.question, answer_seed: areqs[i]!.request.seed, answer: a.text, answer_finish_reason: a.finish_reason },
        prompt_tokens: a.prompt_tokens,
        completion_tokens: a.completion_tokens,
      })
    })
  }
  return states
}

export const selfQa = {
  name: 'self_qa',
  description: 'the model writes questions about the news, then answers them, both with the news in context; the pairs become conversations without the news',
  options: {
    questions_per_call: Type.Integer({ minimum: 1, maximum: 32, default: 8, description: 'self_qa: questions asked for per completion.' }),
  },
  usesModel: true,
  templates: {
    version: VERSION,
    system: SYSTEM,
    questions_prompt: questionsPrompt('{news}', 0).replace('0 different', '{k} different').replace('1 to 0', '1 to {k}'),
    answer_prompt: answerPrompt('{news}', '{question}'),
  },
  run: (ctx: ChunkContext) => runSelfQa(ctx),
} satisfies ProtocolModule<'self_qa'>

