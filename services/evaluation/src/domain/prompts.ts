import { createHash } from 'node:crypto'
import { newsBlock } from '@sys2ft/dataset'
import type { Message } from '@sys2ft/worker-client'
import { letterOf } from './letters.ts'

/**
 * The evaluation prompt, versioned: a run records the version and a hash of the template text in its
 * provenance, and changing any text below means a new version (old runs stay comparable with each
 * other, and the report can tell runs with different prompts apart).
 */
export const TEMPLATE_VERSION = 'v1' as const

const T = {
  news: 'Here is a recent news item:\n\n{news}\n\n',
  question: 'Question: {question}\n{options}\n\n',
  option: '{letter}. {text}',
  // loglik: the reply is scored twice, as the option's letter and as the option's text, so the
  // instruction allows both
  loglik: 'Answer with the correct option.',
  direct: 'Answer with the letter of the correct option only.',
  reasoning: "Think it through step by step, then finish with a last line of the form 'Answer: <letter>'.",
  // after an unparseable free-form answer: the letter is read off the model's own continuation
  fallback: '\nAnswer: {letter}',
}
export const TEMPLATE_SHA256 = createHash('sha256').update(JSON.stringify(T)).digest('hex')

export interface PromptQuestion {
  question: string
  /** Options in the order shown (already shuffled). */
  shown: string[]
  /** The news item, in `icl` and `ft_icl` modes. */
  news?: { title: string; date: string; text: string } | null
}

export type Instruction = 'loglik' | 'direct' | 'reasoning'

const fill = (s: string, v: Record<string, string>) => s.replace(/\{(\w+)\}/g, (_, k: string) => v[k] ?? '')

/** The user message of one question: the news (ICL modes), the question, lettered options, the instruction. */
export function questionMessages(q: PromptQuestion, instruction: Instruction): Message[] {
  const options = q.shown.map((text, i) => fill(T.option, { letter: letterOf(i), text })).join('\n')
  const content = (q.news ? fill(T.news, { news: newsBlock(q.news) }) : '') + fill(T.question, { question: q.question, options }) + T[instruction]
  return [{ role: 'user', content }]
}

/** Continuations scored for `loglik`: each option's letter, then each option's text (shown order). */
export function loglikContinuations(shown: string[]): string[] {
  return [...shown.map((_, i) => letterOf(i)), ...shown]
}

/**
 * Continuations scored after an unparseable answer: the answer itself followed by "Answer: X". The
 * answer's tokens are the same in all of them, so the sums differ only by the letter's
 * log-probability given everything the model wrote.
 */
export function fallbackContinuations(answer: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => answer + fill(T.fallback, { letter: letterOf(i) }))
}
