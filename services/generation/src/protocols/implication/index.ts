// Implication: with the news in context, the model reasons out what follows from it (worked
// examples, consequences, comparisons); each becomes a conversation without the news.
import { SYSTEM } from '../kit.ts'
import { freeTextProtocol } from '../free-text.ts'

/** Change a template → bump the version: every run records it with the exact text. */
export const VERSION = 'sys2ft-selfplay-2026.11.1'

export const ANGLES = [
  'Work through one concrete example that applies the news to new numbers, inputs or cases, step by step, and state the result.',
  'Explain what changes because of this news and what follows from it in practice.',
  'Describe a consequence of this news that is not stated in it, and explain why it follows.',
  'Compare the news with what was known before it, and state exactly what is now different.',
] as const

export const USER_TURNS = ['What follows from recent news?', 'Explain a consequence of something that happened recently.', 'What does a recent development change?'] as const

export const prompt = (news: string, angle: string) => `News:\n${news}\n\n${angle} Write only your explanation.`

export const implication = freeTextProtocol({
  name: 'implication',
  description: 'the model reasons out consequences and worked examples of the news, with the news in context',
  variants: ANGLES,
  users: USER_TURNS,
  prompt,
  templates: { version: VERSION, system: SYSTEM, prompt: prompt('{news}', '{angle}'), angles: ANGLES, user_turns: USER_TURNS },
})
