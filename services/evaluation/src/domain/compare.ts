import type { ComparisonGroupT, ComparisonKindT, ComparisonT } from '../schemas/reports.ts'
import { clusterBootstrap, excludesZeroAbove, type BootstrapSettings, type Estimate, type Statistic } from './stats.ts'

/** One question's outcome in one run, with what groups and clusters it. */
export interface Outcome {
  correct: boolean
  domain: string | null
  type: string
  /** The news item the question is about (the bootstrap's cluster); the question itself for a control question. */
  cluster: string
}

/** One run as comparisons see it: what makes runs comparable, and its outcome per question. */
export interface RunOutcomes {
  id: string
  model: string
  mode: 'base' | 'icl' | 'ft' | 'ft_icl'
  scoring: string
  primary: string
  template: string
  set_id: string
  set_kind: 'news' | 'control'
  adapter_id: string | null
  outcomes: Map<string, Outcome>
}

const gain: Statistic = ([base, icl]) => icl! - base!

/** Each comparison: its runs in order (roles), and the statistic over their accuracies (same order). */
const STATS: Record<ComparisonKindT, { roles: string[]; stat: Statistic }> = {
  icl_gain: { roles: ['base', 'icl'], stat: gain },
  ft_icl_gap: { roles: ['icl', 'ft'], stat: ([icl, ft]) => icl! - ft! },
  // undefined unless ICL beats base in this resample: a ratio over a denominator ≤ 0 means nothing
  gap_closed: { roles: ['base', 'icl', 'ft'], stat: ([base, icl, ft]) => (icl! - base! > 0 ? (ft! - base!) / (icl! - base!) : null) },
  overexposure: { roles: ['icl', 'ft_icl'], stat: ([icl, ftIcl]) => ftIcl! - icl! },
  forgetting: { roles: ['base', 'ft'], stat: ([base, ft]) => ft! - base! },
  budget_diff: { roles: ['a', 'b'], stat: ([a, b]) => b! - a! },
}

const EMPTY: Estimate = { value: null, ci_low: null, ci_high: null }
const pt = (x: number | null) => (x === null ? '–' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} pt`)
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`)

/** The reason gap closed is withheld, with the numbers a reader needs to see why. */
export function gapClosedUndefined(iclGain: Estimate, means: Record<string, number | null>): string {
  const ci = iclGain.ci_low === null ? 'no interval' : `95% CI [${pt(iclGain.ci_low)}, ${pt(iclGain.ci_high)}]`
  return `undefined: ICL does not beat base on these questions (ICL gain ${pt(iclGain.value)}, ${ci}; base ${pct(means.base)}, ICL ${pct(means.icl)}, FT ${pct(means.ft)})`
}

/**
 * A comparison on one group of questions. Gap closed comes with its guard, the ICL gain on the same
 * resamples: when that interval does not lie above 0, gap closed is null with the reason.
 */
function group(kind: ComparisonKindT, runs: RunOutcomes[], questions: string[], settings: BootstrapSettings, key: string): ComparisonGroupT {
  const { roles, stat } = STATS[kind]
  const columns = runs.map((r) => questions.map((q) => (r.outcomes.get(q)!.correct ? 1 : 0)))
  const clusters = questions.map((q) => runs[0]!.outcomes.get(q)!.cluster)
  const means = Object.fromEntries(roles.map((role, i) => [role, questions.length ? columns[i]!.reduce<number>((s, x) => s + x, 0) / questions.length : null]))
  const items = new Set(clusters).size
  if (kind !== 'gap_closed') {
    const { undefined_share, ...estimate } = clusterBootstrap(columns, clusters, { stat }, settings, key).stat
    return { n: questions.length, items, means, estimate, undefined_share, icl_gain: null, undefined_reason: null }
  }
  const r = clusterBootstrap(columns, clusters, { stat, gain }, settings, key)
  const { undefined_share, ...estimate } = r.stat
  const { undefined_share: _, ...icl_gain } = r.gain
  const defined = excludesZeroAbove(icl_gain)
  return {
    n: questions.length, items, means, undefined_share, icl_gain,
    estimate: defined ? estimate : EMPTY,
    undefined_reason: defined ? null : gapClosedUndefined(icl_gain, means),
  }
}

function groupsBy(questions: string[], by: (q: string) => string): Map<string, string[]> {
  const groups = new Map<string, string[]>()
  for (const q of questions) {
    const k = by(q)
    const list = groups.get(k)
    if (list) list.push(q)
    else groups.set(k, [q])
  }
  return new Map([...groups.keys()].sort().map((k) => [k, groups.get(k)!]))
}

/**
 * One comparison over the questions all its runs share, with a paired cluster bootstrap (the same
 * resampled news items for every run), overall, per domain and per question type.
 */
function compare(kind: ComparisonKindT, runs: RunOutcomes[], settings: BootstrapSettings): ComparisonT | string {
  const { roles } = STATS[kind]
  const shared = [...runs[0]!.outcomes.keys()].filter((q) => runs.every((r) => r.outcomes.has(q))).sort()
  if (shared.length === 0) return `${kind}: runs ${runs.map((r) => r.id).join(', ')} share no scored question`
  const of = (q: string) => runs[0]!.outcomes.get(q)!
  const sub = (name: string, by: (q: string) => string) =>
    Object.fromEntries([...groupsBy(shared, by)].map(([k, qs]) => [k, group(kind, runs, qs, settings, `${name}:${k}`)]))
  return {
    kind,
    runs: Object.fromEntries(roles.map((role, i) => [role, runs[i]!.id])),
    ...group(kind, runs, shared, settings, 'all'),
    by_domain: sub('domain', (q) => of(q).domain ?? 'none'),
    by_type: sub('type', (q) => of(q).type),
  }
}

/** Two adapters trained at one budget: acc(b) − acc(a) on their shared questions, paired as every comparison is (or why not). */
export const compareAtBudget = (a: RunOutcomes, b: RunOutcomes, settings: BootstrapSettings): ComparisonT | string => compare('budget_diff', [a, b], settings)

/**
 * Finds the comparisons a set of runs allows. Runs are comparable when they ask the same set with the
 * same model, scoring, choice rule and prompt template; the first matching run (in the order given)
 * plays each role. For every ICL run: the ICL gain over base; for every FT run: the FT-ICL gap and
 * the fraction of the gap closed (news sets) or forgetting (control sets); for every FT+ICL run:
 * the overexposure effect.
 */
export function compareRuns(runs: RunOutcomes[], settings: BootstrapSettings): { comparisons: ComparisonT[]; notes: string[] } {
  const comparisons: ComparisonT[] = []
  const notes: string[] = []
  const add = (kind: ComparisonKindT, rs: RunOutcomes[]) => {
    const c = compare(kind, rs, settings)
    if (typeof c === 'string') notes.push(c)
    else comparisons.push(c)
  }
  const peer = (of: RunOutcomes, mode: RunOutcomes['mode']) =>
    runs.find((r) => r.mode === mode && r.set_id === of.set_id && r.model === of.model && r.scoring === of.scoring && r.primary === of.primary && r.template === of.template)
  const missing = (of: RunOutcomes, mode: string, what: string) =>
    notes.push(`${what} for ${of.id}: no ${mode} run of ${of.model} on the same set with the same scoring (${of.scoring}, ${of.primary}) in this report`)

  for (const icl of runs.filter((r) => r.mode === 'icl')) {
    const base = peer(icl, 'base')
    if (base) add('icl_gain', [base, icl])
    else missing(icl, 'base', 'ICL gain')
  }
  for (const ft of runs.filter((r) => r.mode === 'ft')) {
    const base = peer(ft, 'base')
    if (ft.set_kind === 'control') {
      if (base) add('forgetting', [base, ft])
      else missing(ft, 'base', 'forgetting')
      continue
    }
    const icl = peer(ft, 'icl')
    if (icl) add('ft_icl_gap', [icl, ft])
    else missing(ft, 'icl', 'FT-ICL gap')
    if (icl && base) add('gap_closed', [base, icl, ft])
    else if (icl) missing(ft, 'base', 'fraction of the gap closed')
  }
  for (const ftIcl of runs.filter((r) => r.mode === 'ft_icl')) {
    const icl = peer(ftIcl, 'icl')
    if (icl) add('overexposure', [icl, ftIcl])
    else missing(ftIcl, 'icl', 'overexposure')
  }
  return { comparisons, notes }
}
