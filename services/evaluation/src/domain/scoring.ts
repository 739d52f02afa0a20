import type { Insertable } from 'kysely'
import type { EvalResultsTable } from '@sys2ft/db'
import { evalMessages, forcedAnswerPrefix, letterContinuations, optionContinuations, optionOrder, type Instruction } from '@sys2ft/dataset'
import type { CallOptions, Message, ScoreResponse, WorkerClient } from '@sys2ft/worker-client'
import type { ResolvedOptions } from '../schemas/eval-runs.ts'
import type { MeasureT } from '../schemas/summary.ts'
import { storable } from '@sys2ft/service-kit/text'
import { extractChoice } from './letters.ts'
import type { RunQuestion } from './questions.ts'

export type NewResult = Insertable<EvalResultsTable>

/** Where and how one run's questions are asked. */
export interface ScoringTarget {
  worker: WorkerClient
  model: string
  /** The adapter's name on the worker; null for the base model. */
  adapter: string | null
  /** Put the news in context (icl, ft_icl). */
  withNews: boolean
  /** Each worker call's signal (cancel, shutdown abort it: its answer is thrown away and the chunk redone later) and its waiting notes. */
  call: CallOptions
}

interface Prepared {
  q: RunQuestion
  order: number[]
  shown: string[]
  messages: Message[]
}

function prepare(questions: RunQuestion[], opts: ResolvedOptions, target: ScoringTarget, instruction: Instruction): Prepared[] {
  return questions.map((q) => {
    const order = optionOrder(q.options.length, opts.seed, q.id, opts.shuffle)
    const shown = order.map((i) => q.options[i]!)
    return { q, order, shown, messages: evalMessages({ question: q.question, shown, news: target.withNews ? q.news : null }, instruction) }
  })
}

const argmax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best]! ? i : best), 0)

function row(p: Prepared, runId: string, fields: Omit<NewResult, 'run_id' | 'question_id' | 'domain' | 'type' | 'option_order'>): NewResult {
  return { run_id: runId, question_id: p.q.id, domain: p.q.domain, type: p.q.type, option_order: JSON.stringify(p.order), ...fields }
}

/** Code points, as Python's `len` counts them: lm-eval's `acc_norm` divides by the choice's length in characters. */
const chars = (s: string) => [...s].length

/**
 * `loglik`: one /v1/score call for the whole chunk, one item per question: the reply starts with the
 * answer prefix (computed once per question by the worker), then each option's letter and each
 * option's text are scored. Every choice rule is kept (letter; option text per token, summed, per
 * character), with the letter mass; `primary` decides `predicted_index` and `correct`.
 */
export async function scoreLoglik(runId: string, questions: RunQuestion[], opts: ResolvedOptions, target: ScoringTarget): Promise<NewResult[]> {
  const prepared = prepare(questions, opts, target, 'loglik')
  const prefix = opts.answer_prefix
  const items = prepared.map((p) => ({ messages: p.messages, adapter: target.adapter, prefix, continuations: [...letterContinuations(p.shown.length, prefix), ...optionContinuations(p.shown, prefix)] }))
  const res = await target.worker.score({ model: target.model, items }, target.call)
  const byIndex = new Map(res.results.map((r) => [r.index, r.scores]))
  return prepared.map((p, i) => {
    const scores = byIndex.get(i)
    const n = p.shown.length
    if (!scores || scores.length !== 2 * n) throw new Error(`worker /v1/score answered ${scores?.length ?? 0} scores for question ${p.q.key}, expected ${2 * n}`)
    const letter = scores.slice(0, n)
    const option = scores.slice(n)
    const shownPicks: Record<MeasureT, number> = {
      letter: argmax(letter.map((s) => s.logprob)),
      option_norm: argmax(option.map((s) => s.logprob / Math.max(1, s.tokens))),
      option_sum: argmax(option.map((s) => s.logprob)),
      option_char_norm: argmax(option.map((s, k) => s.logprob / Math.max(1, chars(p.shown[k]!)))),
    }
    const picks = Object.fromEntries(Object.entries(shownPicks).map(([m, k]) => [m, p.order[k]!])) as Record<MeasureT, number>
    const correct_by = Object.fromEntries(Object.entries(picks).map(([m, k]) => [m, k === p.q.answer_index]))
    const primary = opts.primary ?? 'option_norm'
    return row(p, runId, {
      prompt: JSON.stringify({ messages: p.messages, adapter: target.adapter, prefix, continuations: items[i]!.continuations }),
      scores: JSON.stringify({
        letter: { logprob: letter.map((s) => s.logprob), tokens: letter.map((s) => s.tokens) },
        option: { logprob: option.map((s) => s.logprob), tokens: option.map((s) => s.tokens) },
        letter_mass: letter.reduce((sum, s) => sum + Math.exp(s.logprob), 0),
        picks,
        correct_by,
      }),
      raw_answer: null,
      predicted_index: picks[primary],
      parsed: true,
      correct: correct_by[primary]!,
    })
  })
}

/**
 * `generate`: one /v1/generate call for the chunk; the option is read from each answer. Answers that
 * name no option (a reasoning cut off at `max_tokens`, mostly) get a forced final letter in one more
 * batched /v1/score call: the reply so far is the answer, then the answer prefix on a new line, and
 * the likeliest of " A", " B", … is chosen. `unparsed: wrong` still records that choice but counts the
 * question wrong; the summary reports both ways.
 */
export async function scoreGenerate(runId: string, questions: RunQuestion[], opts: ResolvedOptions, target: ScoringTarget): Promise<NewResult[]> {
  const reasoning = opts.reasoning ?? true
  const prepared = prepare(questions, opts, target, reasoning ? 'reasoning' : 'direct')
  const params = { max_tokens: opts.max_tokens ?? (reasoning ? 1024 : 16), temperature: opts.temperature ?? 0, seed: opts.seed }
  const gen = await target.worker.generate({ model: target.model, requests: prepared.map((p) => ({ messages: p.messages, adapter: target.adapter, ...params })) }, target.call)
  const answers = prepared.map((_, i) => gen.results.find((r) => r.index === i)?.completions[0])
  const parses = prepared.map((p, i) => extractChoice(answers[i]?.text ?? '', p.shown))

  const unparsed = prepared.map((_, i) => i).filter((i) => parses[i]!.index === null)
  let fallback: ScoreResponse | null = null
  if (unparsed.length > 0) {
    const items = unparsed.map((i) => ({
      messages: prepared[i]!.messages,
      adapter: target.adapter,
      prefix: forcedAnswerPrefix(answers[i]?.text ?? '', opts.answer_prefix),
      continuations: letterContinuations(prepared[i]!.shown.length, opts.answer_prefix),
    }))
    fallback = await target.worker.score({ model: target.model, items }, target.call)
  }

  return prepared.map((p, i) => {
    const answer = answers[i]
    const parse = parses[i]!
    const parsedPick = parse.index === null ? null : p.order[parse.index]!
    const fb = fallback?.results.find((r) => r.index === unparsed.indexOf(i))?.scores ?? null
    const fallbackPick = fb ? p.order[argmax(fb.map((s) => s.logprob))]! : null
    const chosen = parsedPick ?? fallbackPick
    const correct_by = { with_fallback: chosen === p.q.answer_index, parsed_only: parsedPick === p.q.answer_index }
    const countsWrong = parsedPick === null && opts.unparsed === 'wrong'
    return row(p, runId, {
      prompt: JSON.stringify({ messages: p.messages, adapter: target.adapter, ...params }),
      scores: JSON.stringify({
        rule: parse.rule,
        finish_reason: answer?.finish_reason ?? null,
        completion_tokens: answer?.completion_tokens ?? 0,
        fallback: fb ? { logprob: fb.map((s) => s.logprob), tokens: fb.map((s) => s.tokens), pick: fallbackPick } : null,
        picks: { parsed: parsedPick, fallback: fallbackPick },
        correct_by,
      }),
      raw_answer: storable(answer?.text ?? ''),
      predicted_index: countsWrong ? null : chosen,
      parsed: parsedPick !== null,
      correct: countsWrong ? false : correct_by.with_fallback,
    })
  })
}
