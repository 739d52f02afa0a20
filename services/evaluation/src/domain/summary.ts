import { sql, type Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import type { GroupStatsT, MeasureT, SummaryT } from '../schemas/summary.ts'
import { bootstrapMean, CLUSTERS, DEFAULT_BOOTSTRAP, type BootstrapSettings } from './stats.ts'

/** What a summary needs of one result (a few columns; never the prompts). */
export interface ScoredQuestion {
  question_id: string
  /** The news item the question is about (the bootstrap's cluster); the question itself on a control set. */
  cluster: string
  domain: string | null
  type: string
  correct: boolean
  parsed: boolean
  options: number
  /** Correctness under every choice rule the scoring knows (loglik: letter / option_norm / option_sum / option_char_norm). */
  correct_by: Record<string, boolean>
  /** `loglik`: the probability on any option letter; null for `generate`. */
  letter_mass: number | null
  /** `generate`: the answer was cut off at the token budget. */
  truncated: boolean
}

export async function loadScored(db: Kysely<Database>, runId: string): Promise<ScoredQuestion[]> {
  const rows = await db
    .selectFrom('eval_results as r')
    .innerJoin('questions as q', 'q.id', 'r.question_id')
    .select([
      'r.question_id', 'q.item_id', 'r.domain', 'r.type', 'r.correct', 'r.parsed', 'r.option_order',
      sql<Record<string, boolean> | null>`r.scores -> 'correct_by'`.as('correct_by'),
      sql<number | null>`(r.scores ->> 'letter_mass')::float8`.as('letter_mass'),
      sql<boolean>`coalesce(r.scores ->> 'finish_reason' = 'length', false)`.as('truncated'),
    ])
    .where('r.run_id', '=', runId)
    .orderBy('r.question_id')
    .execute()
  return rows.map((r) => ({
    question_id: r.question_id, cluster: r.item_id ?? r.question_id, domain: r.domain, type: r.type, correct: r.correct, parsed: r.parsed,
    options: (r.option_order as number[]).length,
    correct_by: r.correct_by ?? {},
    letter_mass: r.letter_mass,
    truncated: r.truncated,
  }))
}

function group(rows: ScoredQuestion[], settings: BootstrapSettings, key: string): GroupStatsT {
  const outcomes = rows.map((r) => (r.correct ? 1 : 0))
  return {
    n: rows.length,
    correct: outcomes.reduce<number>((s, x) => s + x, 0),
    accuracy: bootstrapMean(outcomes, rows.map((r) => r.cluster), settings, key),
    chance: rows.length ? rows.reduce((s, r) => s + 1 / r.options, 0) / rows.length : 0,
    letter_mass: mean(rows.map((r) => r.letter_mass).filter((m): m is number => m !== null)),
  }
}

const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null)

function groupsBy(rows: ScoredQuestion[], by: (r: ScoredQuestion) => string, settings: BootstrapSettings, prefix: string): Record<string, GroupStatsT> {
  const groups = new Map<string, ScoredQuestion[]>()
  for (const r of rows) {
    const list = groups.get(by(r))
    if (list) list.push(r)
    else groups.set(by(r), [r])
  }
  return Object.fromEntries([...groups.keys()].sort().map((k) => [k, group(groups.get(k)!, settings, `${prefix}:${k}`)]))
}

/**
 * Accuracy overall, per domain and per question type, each with its cluster-bootstrap interval
 * (resampling news items, the same items for every run: see stats.ts), the chance level and the
 * letter mass; plus the accuracy under every other choice rule, and the unparsed and truncated
 * answers of a `generate` run. `resamples: 0` gives values without intervals (cheap, for a run still going).
 */
export function summarize(rows: ScoredQuestion[], opts: { total: number; primary: MeasureT | 'generate'; settings?: BootstrapSettings }): SummaryT {
  const settings = opts.settings ?? DEFAULT_BOOTSTRAP
  const rules = [...new Set(rows.flatMap((r) => Object.keys(r.correct_by)))].sort()
  const unparsed = rows.filter((r) => !r.parsed)
  return {
    partial: rows.length < opts.total,
    questions: rows.length,
    total: opts.total,
    primary: opts.primary,
    overall: group(rows, settings, 'all'),
    by_domain: groupsBy(rows, (r) => r.domain ?? 'none', settings, 'domain'),
    by_type: groupsBy(rows, (r) => r.type, settings, 'type'),
    measures: Object.fromEntries(rules.map((m) => [m, bootstrapMean(rows.map((r) => (r.correct_by[m] ? 1 : 0)), rows.map((r) => r.cluster), settings, `measure:${m}`)])),
    unparsed: unparsed.length,
    truncated: rows.filter((r) => r.truncated).length,
    fallback_correct: unparsed.filter((r) => r.correct_by.with_fallback).length,
    bootstrap: { ...settings, resampled: CLUSTERS },
  }
}
