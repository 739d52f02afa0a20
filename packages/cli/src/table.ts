import type { ExperimentResults, ResultRow } from './api.ts'

type Est = { value: number | null; ci_low: number | null; ci_high: number | null }
type Group = Pick<NonNullable<ResultRow['gap_closed']>, 'estimate' | 'undefined_share' | 'undefined_reason'>

const pct = (m: Est | null | undefined) => (m && m.value !== null ? `${(m.value * 100).toFixed(1)}%` : '—')
const interval = (m: Est | null | undefined) => (m && m.value !== null && m.ci_low !== null && m.ci_high !== null ? `${pct(m)} [${(m.ci_low * 100).toFixed(0)}, ${(m.ci_high * 100).toFixed(0)}]` : pct(m))
const sgn = (x: number, digits: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(digits)}`
const points = (m: Est | null | undefined) =>
  m && m.value !== null ? `${sgn(m.value, 1)} pt${m.ci_low !== null && m.ci_high !== null ? ` [${sgn(m.ci_low, 0)}, ${sgn(m.ci_high, 0)}]` : ''}` : '—'
const ratio = (m: Est) => `${m.value!.toFixed(2)}${m.ci_low !== null && m.ci_high !== null ? ` [${m.ci_low.toFixed(2)}, ${m.ci_high.toFixed(2)}]` : ''}`
/** Gap closed, or why not: it is shown only where the ICL gain's interval lies above 0. */
const closed = (g: Group | undefined) =>
  !g ? '—' : g.undefined_reason !== null ? 'undefined (ICL ≤ base)' : `${ratio(g.estimate)}${g.undefined_share > 0 ? ` (${(g.undefined_share * 100).toFixed(0)}% undef.)` : ''}`

function label(r: ResultRow): string {
  if (r.method === 'base') return 'base (no news)'
  if (r.method === 'icl') return 'ICL (news in context)'
  return r.label
}

function render(head: string[], body: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)]
}

/** The comparisons of a news block: the ICL gain once, then the FT-ICL gap and gap closed of each FT row; overall and per type. */
function comparisons(rows: ResultRow[], types: string[]): string[] {
  const icl = rows.find((r) => r.method === 'icl' && r.icl_gain)?.icl_gain
  const fts = rows.filter((r) => r.method === 'ft')
  const out: string[][] = []
  // under a baseline base and ICL ask more questions than the adapters: gap closed is guarded by the
  // ICL gain on the trained news' questions, shown once where it is not the ICL gain's line
  const guard = fts.find((r) => r.gap_closed?.icl_gain && r.gap_closed.n !== icl?.n)?.gap_closed
  if (icl) out.push([`ICL gain = ICL − base${guard ? ` (n = ${icl.n})` : ''}`, points(icl.estimate), ...types.map((t) => points(icl.by_type[t]?.estimate))])
  if (guard) out.push([`ICL gain on the trained news (n = ${guard.n})`, points(guard.icl_gain), ...types.map((t) => points(guard.by_type[t]?.icl_gain))])
  for (const r of fts) {
    if (r.ft_icl_gap) out.push([`FT-ICL gap · ${r.label}`, points(r.ft_icl_gap.estimate), ...types.map((t) => points(r.ft_icl_gap!.by_type[t]?.estimate))])
    if (r.gap_closed) out.push([`gap closed · ${r.label}`, closed(r.gap_closed), ...types.map((t) => closed(r.gap_closed!.by_type[t]))])
  }
  if (out.length === 0) return []
  const lines = render(['comparison [95% CI]', 'all', ...types], out)
  const undefinedHere = fts.find((r) => r.gap_closed?.undefined_reason)
  if (undefinedHere) lines.push(`gap closed ${undefinedHere.gap_closed!.undefined_reason}`)
  return ['', ...lines]
}

/**
 * The FT rows at equal compute: a line under the table where they were trained at different budgets,
 * then per budget group each pair's acc(b) − acc(a) with its interval, overall and per type.
 */
function atBudget(rows: ResultRow[], groups: NonNullable<ExperimentResults['budget_groups']>, types: string[]): string[] {
  const byRun = new Map(rows.map((r) => [r.eval_run_id, r]))
  const fts = rows.filter((r) => r.method === 'ft' || r.method === 'ft_icl')
  const out: string[] = []
  const budgets = [...new Set(fts.map((r) => r.budget?.label ?? 'unknown'))]
  if (budgets.length > 1) out.push('', `FT rows trained at ${budgets.length} different budgets (${budgets.join('; ')}): compare them at equal compute only within one budget`)
  const pairs = groups.filter((g) => g.runs.every((id) => byRun.has(id))).flatMap((g) => g.comparisons.map((c) => ({ g, c })))
  if (pairs.length === 0) return out
  const name = (id: string | undefined) => byRun.get(id ?? '')?.label ?? id ?? ''
  const body = pairs.map(({ g, c }) => [`${g.label} · ${name(c.runs.b)} − ${name(c.runs.a)}`, points(c.estimate), ...types.map((t) => points(c.by_type[t]?.estimate))])
  return [...out, '', ...render(['at equal budget: b − a [95% CI]', 'all', ...types], body)]
}

/**
 * The experiment's result table as fixed-width text: one block per model and set, base / ICL / each
 * FT row with accuracy overall and per question type and its training budget, then the ICL gain,
 * FT-ICL gap and gap closed, then the FT rows compared at equal budget.
 */
export function formatResults(results: ExperimentResults): string {
  const out: string[] = []
  const models = [...new Set(results.rows.map((r) => r.model))]
  for (const model of models) {
    for (const set of ['news', 'control'] as const) {
      const rows = results.rows.filter((r) => r.model === model && r.set === set)
      if (rows.length === 0) continue
      // the question types are whatever the set has (recall / implication; knowledge / reasoning)
      const types = [...new Set(rows.flatMap((r) => Object.keys(r.by_type)))].sort()
      const head = ['method', 'n', 'accuracy [95% CI]', ...types, ...(set === 'news' ? ['train FLOPs', 'gen FLOPs', 'budget'] : ['change vs base'])]
      const body = rows.map((r) => [
        label(r),
        String(r.accuracy.n),
        interval(r.accuracy),
        ...types.map((t) => interval(r.by_type[t])),
        ...(set === 'news' ? [r.compute_flops ? r.compute_flops.toExponential(2) : '', r.generation_flops === null ? '' : r.generation_flops === 0 ? '0' : r.generation_flops.toExponential(2), r.budget?.label ?? ''] : [r.forgetting ? points(r.forgetting.estimate) : '']),
      ])
      const items = rows.find((r) => r.icl_gain)?.icl_gain?.items
      const n = rows[0]!.accuracy.n
      const about = `${n} questions${items ? ` on ${items} news item${items === 1 ? '' : 's'}` : ''}`
      // a baseline: base and ICL ask more questions than the adapters, which ask their trained news'
      const scope = rows.every((r) => r.accuracy.n === n) ? about : `base and ICL: ${about}; each adapter: the questions of its trained news`
      out.push(`${model} — ${set === 'news' ? 'New News questions' : 'control set (forgetting)'} (${scope}; chance ${(results.chance * 100).toFixed(0)}%)`)
      out.push(...render(head, body), ...(set === 'news' ? [...comparisons(rows, types), ...atBudget(rows, results.budget_groups ?? [], types)] : []), '')
    }
  }
  if (results.notes.length) out.push(...results.notes.map((n) => `note: ${n}`))
  return out.join('\n')
}
