import type { BudgetGroupT, ComparisonT, ReportRunT, TrainingBudgetT } from '../schemas/reports.ts'
import { compareAtBudget, type RunOutcomes } from './compare.ts'
import { tokens } from './run-labels.ts'
import type { BootstrapSettings } from './stats.ts'

/** Runs without a token budget share a budget when their training FLOPs lie within this share of the group's smallest. */
export const FLOPS_TOLERANCE = 0.1

const MODE_LABEL = { base: 'base', icl: 'ICL', ft: 'FT', ft_icl: 'FT+ICL' } as const
const flopsText = (x: number) => x.toExponential(2).replace('e+', 'e')

/** What an FT run's budget is: its token budget × epochs when its training had one, else its training FLOPs; null when it has neither. */
function basisOf(run: ReportRunT): { tokens: number } | { flops: number } | null {
  if (run.mode !== 'ft' && run.mode !== 'ft_icl') return null
  const t = run.training
  if (t && t.token_budget !== null && t.epochs !== null) return { tokens: t.token_budget * t.epochs }
  return run.compute_flops !== null ? { flops: run.compute_flops } : null
}

/**
 * The FT runs grouped by training budget, and each group's runs compared at it.
 *
 * Runs are grouped only with runs they can be compared with: the same model, mode, set, scoring,
 * choice rule and prompt template. Within those, a run trained to a token budget shares a group with
 * the runs whose token budget per epoch × epochs is the same (what the experiment fixed; 6·N·D, so
 * equal compute for one model); a run without one, with the runs whose training FLOPs lie within
 * FLOPS_TOLERANCE of the group's smallest (sorted by FLOPs, a group is closed by the first run
 * beyond it). Every pair in a group is compared: acc(b) − acc(a) with the paired cluster bootstrap
 * of every other comparison. A note says where one model's FT runs of a mode and set were trained at
 * several budgets (or some at none known), so they are not read as compared at equal compute.
 */
export function budgetGroups(runs: ReportRunT[], outcomes: RunOutcomes[], settings: BootstrapSettings): { groups: BudgetGroupT[]; budgets: Map<string, TrainingBudgetT>; notes: string[] } {
  const outcome = new Map(outcomes.map((o) => [o.id, o]))
  const partitions = new Map<string, ReportRunT[]>()
  for (const run of runs) {
    if (run.mode !== 'ft' && run.mode !== 'ft_icl') continue
    const o = outcome.get(run.id)!
    const key = [run.mode, run.model, run.set_id, run.scoring, run.primary, o.template].join('\u0001')
    partitions.set(key, [...(partitions.get(key) ?? []), run])
  }
  const order = new Map(runs.map((r, i) => [r.id, i]))
  const byOrder = (a: ReportRunT, b: ReportRunT) => order.get(a.id)! - order.get(b.id)!
  const found: Omit<BudgetGroupT, 'key' | 'comparisons'>[] = []
  const notes: string[] = []
  for (const members of partitions.values()) {
    const byTokens = new Map<number, ReportRunT[]>()
    const byFlops: { run: ReportRunT; flops: number }[] = []
    let unknown = 0
    for (const run of members) {
      const b = basisOf(run)
      if (b === null) unknown++
      else if ('tokens' in b) byTokens.set(b.tokens, [...(byTokens.get(b.tokens) ?? []), run])
      else byFlops.push({ run, flops: b.flops })
    }
    const flopsGroups: { start: number; runs: ReportRunT[] }[] = []
    for (const { run, flops } of byFlops.sort((a, b) => a.flops - b.flops)) {
      const last = flopsGroups.at(-1)
      if (last && flops <= last.start * (1 + FLOPS_TOLERANCE)) last.runs.push(run)
      else flopsGroups.push({ start: flops, runs: [run] })
    }
    const here = [...byTokens.values(), ...flopsGroups.map((g) => g.runs)]
    for (const group of here) {
      const sorted = [...group].sort(byOrder)
      const first = sorted[0]!
      const t = first.training
      const basis = basisOf(first)!
      const flops = sorted.map((r) => r.compute_flops).filter((x): x is number => x !== null)
      const min = flops.length ? Math.min(...flops) : null
      const max = flops.length ? Math.max(...flops) : null
      let label: string
      if ('tokens' in basis) {
        const perEpoch = new Set(sorted.map((r) => `${r.training!.token_budget}×${r.training!.epochs}`))
        label = `${tokens(basis.tokens)} tok${perEpoch.size === 1 && t!.epochs! > 1 ? ` (${tokens(t!.token_budget!)} tok/ep × ${t!.epochs} ep)` : ''}`
      } else label = min === max ? `≈${flopsText(min!)} FLOPs` : `${flopsText(min!)}–${flopsText(max!)} FLOPs`
      found.push({
        label, basis: 'tokens' in basis ? 'token_budget' : 'flops', tokens: 'tokens' in basis ? basis.tokens : null, flops: { min, max },
        model: first.model, mode: first.mode, set_id: first.set_id, runs: sorted.map((r) => r.id),
      })
    }
    const first = members[0]!
    if (here.length + (unknown ? 1 : 0) > 1) {
      const budgets = found.slice(-here.length).map((g) => `${g.label}: ${g.runs.length} run${g.runs.length === 1 ? '' : 's'}`)
      if (unknown) budgets.push(`unknown: ${unknown} run${unknown === 1 ? '' : 's'}`)
      notes.push(`${MODE_LABEL[first.mode]} runs of ${first.model} on ${first.set_name} were trained at ${budgets.length} different budgets (${budgets.join('; ')}): compare them at equal compute only within one budget (budget_groups)`)
    }
  }
  // groups in the order of their first run, keyed b1, b2, …
  found.sort((a, b) => order.get(a.runs[0]!)! - order.get(b.runs[0]!)!)
  const budgets = new Map<string, TrainingBudgetT>()
  const groups = found.map((g, i): BudgetGroupT => {
    const key = `b${i + 1}`
    for (const id of g.runs) budgets.set(id, { group: key, label: g.label, basis: g.basis, tokens: g.tokens })
    const comparisons: ComparisonT[] = []
    for (let x = 0; x < g.runs.length; x++)
      for (let y = x + 1; y < g.runs.length; y++) {
        const c = compareAtBudget(outcome.get(g.runs[x]!)!, outcome.get(g.runs[y]!)!, settings)
        if (typeof c === 'string') notes.push(c)
        else comparisons.push(c)
      }
    return { key, ...g, comparisons }
  })
  return { groups, budgets, notes }
}
