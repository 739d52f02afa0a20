// Paraphrase: with the news in context, the model rewrites it in several styles; each rewrite
// becomes a conversation (a generic question, the rewrite) without the news.
import { SYSTEM } from '../kit.ts'
import { freeTextProtocol } from '../free-text.ts'

/** Change a template → bump the version: every run records it with the exact text. */
export const VERSION = 'sys2ft-selfplay-2026.11.1'

/** Each style is one prompt per news item; `n` samples are drawn per style. Variety comes from both. */
export const STYLES = [
  'as a short, factual news report',
  'as a plain-language explanation for a curious friend',
  'as a bullet-point summary of every fact',
  'starting from the most surprising detail and ending with the background',
  'from the point of view of someone directly affected by it',
  'as a short FAQ with two or three questions and their answers',
] as const

export const USER_TURNS = ['Tell me about a recent piece of news.', 'What happened recently?', 'Share some recent news.'] as const

export const prompt = (news: string, style: string) =>
  `News:\n${news}\n\nRewrite this news ${style}. Keep every fact — names, numbers, dates, definitions and rules — exactly right, but change the wording and the order. Write only the rewritten text.`

export const paraphrase = freeTextProtocol({
  name: 'paraphrase',
  description: 'the model rewrites the news in several styles, with the news in context',
  variants: STYLES,
  users: USER_TURNS,
  prompt,
  templates: { version: VERSION, system: SYSTEM, prompt: prompt('{news}', '{style}'), styles: STYLES, user_turns: USER_TURNS },
})
