import { naiveConversation } from '@sys2ft/dataset'
import type { ChunkContext, ChunkResult, Generate, GenerationOptions, NewsInput } from './kit.ts'
import { protocolModule, type Protocol } from './registry.ts'
import { verifySamples } from './verify.ts'

/**
 * Generates the training samples of one chunk of news items under a protocol: few, large worker
 * calls; outputs parsed strictly; shortfalls (rejections) retried for up to `max_rounds` rounds.
 * With `verify`, the model then judges what was accepted. Replay copies of the news text are added
 * after the generated samples.
 */
export async function generateChunk(protocol: Protocol, items: NewsInput[], opts: GenerationOptions, generate: Generate, signal: AbortSignal): Promise<ChunkResult> {
  const acc: ChunkResult = { samples: [], stats: {}, calls: 0, prompt_tokens: 0, completion_tokens: 0, elapsed_s: 0 }
  const ctx: ChunkContext = { items, opts, generate, signal, acc }
  const states = await protocolModule(protocol).run(ctx)
  if (opts.verify) await verifySamples(ctx)
  for (const st of states)
    for (let c = 0; c < opts.replay; c++)
      acc.samples.push({ item_id: st.item.id, sample_index: st.next++, accepted: true, reject_reason: null, messages: naiveConversation(st.item), raw: { stage: 'replay', copy: c }, prompt_tokens: 0, completion_tokens: 0 })
  return acc
}
