import type { ComparisonT } from '../schemas/reports.ts'
import { pairedBootstrap, type BootstrapSettings } from './stats.ts'

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
  outcomes: Map<string, { correct: boolean; domain: string | null }>
}

type Kind = ComparisonT['kind']

/** Each comparison: its runs in order, and the statistic over their accuracies (same order). */
const STATS: Record<Kind, { roles: string[]; stat: (m: number[]) => number | null }> = {
  ft_icl_gap: { roles: ['icl', 'ft'], stat: ([icl, ft]) => icl! - ft! },
  gap_closed: { roles: ['base', 'icl', 'ft'], stat: ([base, icl, ft]) => (icl! - base! === 0 ? null : (ft! - base!) / (icl! - base!)) },
  overexposure: { roles: ['icl', 'ft_icl'], stat: ([icl, ftIcl]) => ftIcl! - icl! },
  forgetting: { roles: ['base', 'ft'], stat: ([base, ft]) => ft! - base! },
}

/**
 * One comparison over the questions all its runs share, with a paired bootstrap (the same resampled
 * questions for every run), overall and per domain.
 */
function compare(kind: Kind, runs: RunOutcomes[], settings: BootstrapSettings): ComparisonT | string {
  const { roles, stat } = STATS[kind]
  const shared = [...runs[0]!.outcomes.keys()].filter((q) => runs.every((r) => r.outcomes.has(q))).sort()
  if (shared.length === 0) return `${kind}: runs ${runs.map((r) => r.id).join(', ')} share no scored question`
  const key = `${kind}:${runs.map((r) => r.id).join(',')}`
  const columns = (qs: string[]) => runs.map((r) => qs.map((q) => (r.outcomes.get(q)!.correct ? 1 : 0)))
  const { undefined_share, ...estimate } = pairedBootstrap(columns(shared), stat, settings, key)
  const domains = new Map<string, string[]>()
  for (const q of shared) {
    const d = runs[0]!.outcomes.get(q)!.domain ?? 'none'
    const list = domains.get(d)
    if (list) list.push(q)
    else domains.set(d, [q])
  }
  const by_domain = Object.fromEntries(
    [...domains.keys()].sort().map((d) => {
      const { value, ci_low, ci_high } = pairedBootstrap(columns(domains.get(d)!), stat, settings, `${key}:${d}`)
      return [d, { n: domains.get(d)!.length, value, ci_low, ci_high }]
    }),
  )
  return { kind, runs: Object.fromEntries(roles.map((role, i) => [role, runs[i]!.id])), n: shared.length, estimate, undefined_share, by_domain }
}

/**
 * Finds the comparisons a set of runs allows. Runs are comparable when they ask the same set with the
 * same model, scoring, choice rule and prompt template; the first matching run (in the order given)
 * plays each role. For every FT run: the FT-ICL gap and the fraction of the gap closed (news sets)
 * or forgetting (control sets); for every FT+ICL run: the overexposure effect.
 */
export function compareRuns(runs: RunOutcomes[], settings: BootstrapSettings): { comparisons: ComparisonT[]; notes: string[] } {
  const comparisons: ComparisonT[] = []
  const notes: string[] = []
  const add = (kind: Kind, rs: RunOutcomes[]) => {
    const c = compare(kind, rs, settings)
    if (typeof c === 'string') notes.push(c)
    else comparisons.push(c)
  }
  const peer = (of: RunOutcomes, mode: RunOutcomes['mode']) =>
    runs.find((r) => r.mode === mode && r.set_id === of.set_id && r.model === of.model && r.scoring === of.scoring && r.primary === of.primary && r.template === of.template)
  const missing = (of: RunOutcomes, mode: string, what: string) =>
    notes.push(`${what} for ${of.id}: no ${mode} run of ${of.model} on the same set with the same scoring (${of.scoring}, ${of.primary}) in this report`)

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
