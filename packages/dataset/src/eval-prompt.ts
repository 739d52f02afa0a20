import { createHash } from 'node:crypto'
import { Type } from 'typebox'
import { seededRandom, seedOf } from '@sys2ft/service-kit/random'
import { newsBlock, type ChatMessage } from './conversations.ts'

/**
 * The evaluation prompt, in one place for everything that asks the questions: the evaluation
 * service scores it, and the news-set export writes it into lm-evaluation-harness tasks, so an
 * lm-eval run reads exactly what the product's runs read. Versioned: a run records the version and
 * a hash of the template text, and changing any text below means a new version.
 */
export const EVAL_TEMPLATE_VERSION = 'v2' as const

/**
 * Scored replies start with this text (the assistant's turn, after the chat template's generation
 * prompt): right after a bare assistant start a small model puts half its probability on starting
 * a sentence, so the option letters get only the rest. After "The answer is" a letter is what comes.
 */
export const DEFAULT_ANSWER_PREFIX = 'The answer is'

/** The answer prefix as every API takes it (eval runs, experiments, the lm-eval export); `description` says where. */
export const AnswerPrefixSchema = (description: string, extra: { default?: string } = {}) =>
  Type.String({
    maxLength: 200,
    // a trailing space would be tokenized with the prefix here and with the continuation by lm-eval
    pattern: '^([\\s\\S]*\\S)?$',
    description: `${description} Must not end in whitespace.`,
    ...extra,
  })

const T = {
  news: 'Here is a recent news item:\n\n{news}\n\n',
  question: 'Question: {question}\n{options}\n\n',
  option: '{letter}. {text}',
  // loglik: the reply is scored twice, as the option's letter and as the option's text, so the
  // instruction allows both
  loglik: 'Answer with the correct option.',
  direct: 'Answer with the letter of the correct option only.',
  reasoning: "Think it through step by step, then finish with a last line of the form 'The answer is <letter>.'",
  // after a free-form answer that names no letter, the letter is scored after the answer itself
  forced: '{answer}\n{prefix}',
}
export const EVAL_TEMPLATE_SHA256 = createHash('sha256').update(JSON.stringify(T)).digest('hex')

export const LETTERS = 'ABCDEFGHIJKLMNOP'
export const letterOf = (i: number): string => LETTERS[i]!

export interface EvalQuestion {
  question: string
  /** Options in the order shown (already shuffled). */
  shown: readonly string[]
  /** The news item, in `icl` and `ft_icl` modes. */
  news?: { title: string; date: string; text: string } | null
}

export type Instruction = 'loglik' | 'direct' | 'reasoning'

const fill = (s: string, v: Record<string, string>) => s.replace(/\{(\w+)\}/g, (_, k: string) => v[k] ?? '')

/** The user message's text: the news (ICL modes), the question, lettered options, the instruction. */
export function evalUserText(q: EvalQuestion, instruction: Instruction): string {
  const options = q.shown.map((text, i) => fill(T.option, { letter: letterOf(i), text })).join('\n')
  return (q.news ? fill(T.news, { news: newsBlock(q.news) }) : '') + fill(T.question, { question: q.question, options }) + T[instruction]
}

export function evalMessages(q: EvalQuestion, instruction: Instruction): ChatMessage[] {
  return [{ role: 'user', content: evalUserText(q, instruction) }]
}

/**
 * What separates the answer prefix from a continuation: a space, unless there is no prefix or it
 * ends in whitespace. lm-evaluation-harness joins `gen_prefix` and a choice by the same rule (its
 * `target_delimiter` " "), so both score the same tokens.
 */
export const continuationDelimiter = (prefix: string): string => (prefix === '' || /\s$/.test(prefix) ? '' : ' ')

/** The letters as scored after the prefix: " A", " B", … */
export const letterContinuations = (count: number, prefix: string): string[] => Array.from({ length: count }, (_, i) => continuationDelimiter(prefix) + letterOf(i))

/** The options' texts as scored after the prefix, in the shown order. */
export const optionContinuations = (shown: readonly string[], prefix: string): string[] => shown.map((text) => continuationDelimiter(prefix) + text)

/**
 * The reply's start when the letter is forced after a free-form answer: the answer, then the answer
 * prefix on a line of its own; the letters are scored after it (`letterContinuations`).
 */
export const forcedAnswerPrefix = (answer: string, prefix: string): string => fill(T.forced, { answer, prefix })

/**
 * The order in which a question's options are shown: `order[k]` is the original index of the option
 * shown at position k. Fisher–Yates from a generator seeded by (seed, question id), so a resumed run,
 * a later run with the same seed and the lm-eval export show each question exactly alike.
 */
export function optionOrder(count: number, seed: number, questionId: string, shuffle: boolean): number[] {
  const order = Array.from({ length: count }, (_, i) => i)
  if (!shuffle) return order
  const next = seededRandom(seedOf('options', seed, questionId))
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  return order
}
