import { Value } from 'typebox/value'
import { Compile } from 'typebox/compile'
import { create, all } from 'mathjs'
import type { TSchema } from 'typebox'
import { ControlQuestionInput, NewsItemInput, type AnyQuestion, type ControlQuestion, type NewsItem } from './schema.ts'
import type { JsonlLine } from './load.ts'
import { unstorableFields } from '@sys2ft/service-kit/text'
import { runSliced, runToEnd } from '@sys2ft/service-kit/slices'
import { PRIOR_KNOWLEDGE_RULE, priorKnowledgeDistractors } from './prior-knowledge.ts'

export interface Issue {
  severity: 'error' | 'warning'
  /** 1-based JSONL line (or array index + 1) of the item the issue is about; absent for set-wide rules. */
  line?: number
  /** JSON pointer inside that line (or a rule name for set-wide issues). */
  path: string
  message: string
}

export interface ValidateOptions {
  /**
   * The product's own rules for the shipped set (FORMAT.md): 5 questions with ≥3 implication, 60–200
   * words, dates after 2025, balance and length-bias limits, math checks present. For a user's set
   * these are warnings; structure and consistency are errors either way.
   */
  shipped?: boolean
  /** Recompute every `check` with math.js (on for the validator command and tests). */
  evaluateChecks?: boolean
}

export interface Report<T> {
  valid: T[]
  issues: Issue[]
  checks: { evaluated: number; mismatched: number }
}

const math = create(all!)
const norm = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ')
const words = (s: string) => s.trim().split(/\s+/).filter(Boolean).length
const isNumeric = (s: string) => /^-?[\d,]*\.?\d+(e-?\d+)?$/i.test(s.trim())

/** Evaluates a question's check against its answer text, as FORMAT.md defines (numbers numerically). */
export function checkAnswer(defs: string[], expr: string, answerText: string): { ok: boolean; got: string } {
  const scope = new Map()
  for (const d of defs) math.evaluate(d, scope)
  const r = math.evaluate(expr, scope)
  if (typeof r === 'number') {
    const want = Number(answerText.replace(/,/g, ''))
    return { ok: Math.abs(r - want) <= 1e-9 * Math.max(1, Math.abs(r)), got: String(r) }
  }
  const s = typeof r === 'string' ? r : math.format(r, { precision: 14 })
  return { ok: s.trim() === answerText.trim(), got: s }
}

function questionIssues(q: AnyQuestion, base: string, line: number): Issue[] {
  const out: Issue[] = []
  if (q.options[q.answer_index] !== q.answer_text) out.push({ severity: 'error', line, path: `${base}/answer_text`, message: `must equal options[${q.answer_index}] (${JSON.stringify(q.options[q.answer_index])})` })
  const seen = new Map<string, number>()
  q.options.forEach((o, i) => {
    const k = norm(o)
    if (seen.has(k)) out.push({ severity: 'error', line, path: `${base}/options/${i}`, message: `duplicates option ${seen.get(k)}` })
    else seen.set(k, i)
  })
  return out
}

// Compiled once per schema: checking 10,000 valid items takes ~60 ms compiled against ~4 s with
// Value.Default + Value.Errors, which would hold the event loop (and every service in the process).
const compiled = new WeakMap<TSchema, ReturnType<typeof Compile>>()
const validatorOf = (schema: TSchema) => {
  let v = compiled.get(schema)
  if (!v) compiled.set(schema, (v = Compile(schema)))
  return v
}

/** Stop after this many bad lines: the answer names enough to fix, and a hostile upload costs little. */
export const MAX_ERROR_LINES = 200

/** Each line checked against the import schema; `answer_text` filled in from `answer_index` where absent. */
function* structure<T>(schema: TSchema, lines: JsonlLine[], issues: Issue[], questionsOf: (value: T) => Partial<AnyQuestion>[]): Generator<void, { line: number; value: T }[]> {
  const ok: { line: number; value: T }[] = []
  const validator = validatorOf(schema)
  let bad = 0
  for (const l of lines) {
    yield
    if (bad >= MAX_ERROR_LINES) {
      issues.push({ severity: 'error', line: l.line, path: '', message: `validation stopped after ${MAX_ERROR_LINES} bad lines; fix those and upload again` })
      break
    }
    if (l.error) {
      bad += 1
      issues.push({ severity: 'error', line: l.line, path: '', message: l.error })
      continue
    }
    const unstorable = unstorableFields(l.value)
    if (unstorable.length) {
      bad += 1
      for (const e of unstorable) issues.push({ severity: 'error', line: l.line, path: e.path, message: e.message })
      continue
    }
    // the fast path for a valid line; defaults (an absent explanation) and error messages only when needed
    let value = l.value
    let errs: { instancePath: string; message: string }[] = []
    if (!validator.Check(value)) {
      value = Value.Default(schema, value)
      if (!validator.Check(value)) errs = Value.Errors(schema, value)
    }
    if (errs.length) {
      bad += 1
      for (const e of errs) issues.push({ severity: 'error', line: l.line, path: e.instancePath || '/', message: e.message })
      continue
    }
    for (const q of questionsOf(value as T)) q.answer_text ??= q.options![q.answer_index!]
    ok.push({ line: l.line, value: value as T })
  }
  return ok
}

/**
 * Question ids need only be unique within their item: where one repeats across items (`q1` … `q5` in
 * every item, a common shape), each id not already starting with its item's id is stored as
 * `<item id>-<question id>`, the shipped set's own convention. One set-wide issue says so.
 */
function* scopeQuestionIds(parsed: { value: NewsItem }[], severity: Issue['severity']): Generator<void, Issue[]> {
  const itemsWith = new Map<string, Set<string>>()
  for (const { value: item } of parsed) {
    for (const q of item.questions) itemsWith.set(q.id, (itemsWith.get(q.id) ?? new Set()).add(item.id))
    yield
  }
  const repeated = [...itemsWith].filter(([, items]) => items.size > 1)
  if (repeated.length === 0) return []
  let example = ''
  for (const { value: item } of parsed) {
    yield
    for (const q of item.questions) {
      if (q.id.startsWith(`${item.id}-`)) continue
      q.id = `${item.id}-${q.id}`
      example ||= q.id
    }
  }
  const [id, items] = repeated[0]!
  return [{ severity, path: 'question_ids', message: `question ids repeat across items (${id} in ${items.size} items): each is stored as <item id>-<question id>, e.g. ${example}; give ids unique across the set to keep them as they are` }]
}

/** Set-wide answer-position balance (20–30% each) and the longest-option bias (≤ 35%). */
function* balanceIssues(qs: AnyQuestion[], severity: Issue['severity']): Generator<void, Issue[]> {
  if (qs.length === 0) return []
  const s = yield* positionStatsSteps(qs)
  const out: Issue[] = []
  s.positions.forEach((share, i) => {
    if (share < 0.2 || share > 0.3) out.push({ severity, path: 'answer_positions', message: `position ${i} holds ${(share * 100).toFixed(1)}% of correct answers (allowed 20–30%)` })
  })
  if (s.longestCorrect > 0.35) out.push({ severity, path: 'longest_option', message: `the correct option is the longest in ${(s.longestCorrect * 100).toFixed(1)}% of questions (allowed ≤ 35%)` })
  return out
}

export function positionStats(qs: AnyQuestion[]): { positions: number[]; longestCorrect: number } {
  return runToEnd(positionStatsSteps(qs))
}

function* positionStatsSteps(qs: AnyQuestion[]): Generator<void, { positions: number[]; longestCorrect: number }> {
  const counts = [0, 0, 0, 0]
  let longest = 0
  for (const [k, q] of qs.entries()) {
    if (k % 256 === 0) yield
    counts[q.answer_index]! += 1
    const len = q.options.map((o) => o.length)
    const max = Math.max(...len)
    if (len[q.answer_index] === max && len.filter((l) => l === max).length === 1) longest += 1
  }
  return { positions: counts.map((c) => c / qs.length), longestCorrect: longest / qs.length }
}

/** Validates a whole news set: every line, then ids across lines, then set-wide rules. */
export function validateNewsSet(lines: JsonlLine[], opts: ValidateOptions = {}): Report<NewsItem> {
  return runToEnd(newsSetSteps(lines, opts))
}

/** validateNewsSet cut into time slices (10,000 items take ~0.6 s): the same report, the event loop let through between slices. */
export function validateNewsSetSliced(lines: JsonlLine[], opts: ValidateOptions = {}): Promise<Report<NewsItem>> {
  return runSliced(newsSetSteps(lines, opts))
}

function* newsSetSteps(lines: JsonlLine[], opts: ValidateOptions): Generator<void, Report<NewsItem>> {
  const issues: Issue[] = []
  const rule: Issue['severity'] = opts.shipped ? 'error' : 'warning'
  const parsed = yield* structure<NewsItem>(NewsItemInput, lines, issues, (item) => item.questions)
  yield
  issues.push(...(yield* scopeQuestionIds(parsed, rule)))
  const ids = new Map<string, number>()
  const checks = { evaluated: 0, mismatched: 0 }
  const valid: NewsItem[] = []
  let unnamedPrior = 0
  for (const { line, value: item } of parsed) {
    yield
    // issues are only appended: this item's are the ones from here on (counting every error again per item was quadratic)
    const from = issues.length
    for (const [id, path] of [[item.id, '/id'], ...item.questions.map((q, j) => [q.id, `/questions/${j}/id`])] as [string, string][]) {
      if (ids.has(id)) issues.push({ severity: 'error', line, path, message: `id ${id} is already used on line ${ids.get(id)}` })
      else ids.set(id, line)
    }
    item.questions.forEach((q, j) => issues.push(...questionIssues(q, `/questions/${j}`, line)))
    const n = words(item.text)
    if (n < 60 || n > 200) issues.push({ severity: rule, line, path: '/text', message: `has ${n} words (60–200 expected)` })
    if (!(item.date > '2025-12-31')) issues.push({ severity: rule, line, path: '/date', message: 'should be after 2025-12-31 (news must be new)' })
    if (item.questions.length !== 5) issues.push({ severity: rule, line, path: '/questions', message: `has ${item.questions.length} questions (5 expected)` })
    const impl = item.questions.filter((q) => q.type === 'implication').length
    if (impl < 3) issues.push({ severity: rule, line, path: '/questions', message: `has ${impl} implication questions (at least 3 expected)` })
    item.questions.forEach((q, j) => {
      if (item.domain === 'mathematics' && q.type === 'implication' && isNumeric(q.answer_text) && !q.check)
        issues.push({ severity: rule, line, path: `/questions/${j}/check`, message: 'a mathematics implication question with a numeric answer needs a check' })
      if (!q.check || !opts.evaluateChecks) return
      checks.evaluated += 1
      try {
        const r = checkAnswer(item.check?.defs ?? [], q.check.expr, q.answer_text)
        if (r.ok) return
        checks.mismatched += 1
        issues.push({ severity: 'error', line, path: `/questions/${j}/check`, message: `check ${q.check.expr} gives ${r.got}, answer_text is ${q.answer_text}` })
      } catch (err) {
        checks.mismatched += 1
        issues.push({ severity: 'error', line, path: `/questions/${j}/check`, message: `check does not evaluate: ${(err as Error).message}` })
      }
    })
    item.questions.forEach((q, j) => {
      if (priorKnowledgeDistractors(q).length > 0) return
      unnamedPrior += 1
      if (opts.shipped) issues.push({ severity: 'error', line, path: `/questions/${j}/explanation`, message: PRIOR_KNOWLEDGE_RULE })
    })
    if (!issues.slice(from).some((i) => i.severity === 'error')) valid.push(item)
  }
  yield
  // A user's set gets one line for the whole set, not one per question.
  if (!opts.shipped && unnamedPrior > 0) {
    const total = parsed.reduce((n, p) => n + p.value.questions.length, 0)
    issues.push({ severity: 'warning', path: 'prior_knowledge', message: `${unnamedPrior} of ${total} explanations ${PRIOR_KNOWLEDGE_RULE}` })
  }
  issues.push(...(yield* balanceIssues(valid.flatMap((i) => i.questions), rule)))
  return { valid, issues, checks }
}

/** Validates a control set (general-knowledge questions, no news). */
export function validateControlSet(lines: JsonlLine[], opts: ValidateOptions = {}): Report<ControlQuestion> {
  return runToEnd(controlSetSteps(lines, opts))
}

/** validateControlSet cut into time slices: the same report, the event loop let through between slices. */
export function validateControlSetSliced(lines: JsonlLine[], opts: ValidateOptions = {}): Promise<Report<ControlQuestion>> {
  return runSliced(controlSetSteps(lines, opts))
}

function* controlSetSteps(lines: JsonlLine[], opts: ValidateOptions): Generator<void, Report<ControlQuestion>> {
  const issues: Issue[] = []
  const parsed = yield* structure<ControlQuestion>(ControlQuestionInput, lines, issues, (q) => [q])
  const ids = new Map<string, number>()
  const valid: ControlQuestion[] = []
  for (const { line, value: q } of parsed) {
    yield
    const before = issues.length
    if (ids.has(q.id)) issues.push({ severity: 'error', line, path: '/id', message: `id ${q.id} is already used on line ${ids.get(q.id)}` })
    else ids.set(q.id, line)
    issues.push(...questionIssues(q, '', line))
    if (issues.length === before) valid.push(q)
  }
  issues.push(...(yield* balanceIssues(valid, opts.shipped ? 'error' : 'warning')))
  return { valid, issues, checks: { evaluated: 0, mismatched: 0 } }
}

export const errorsOf = (issues: Issue[]) => issues.filter((i) => i.severity === 'error')
