import type { ExperimentResults, Measure, ResultRow } from './api.ts'

const pct = (m: Measure | null | undefined) => (m && m.value !== null ? `${(m.value * 100).toFixed(1)}%` : '—')
const interval = (m: Measure | null | undefined) => (m && m.value !== null && m.ci_low !== null && m.ci_high !== null ? `${pct(m)} [${(m.ci_low * 100).toFixed(0)}, ${(m.ci_high * 100).toFixed(0)}]` : pct(m))
const ratio = (m: Measure | null | undefined) => (m && m.value !== null ? `${m.value.toFixed(2)}${m.ci_low !== null && m.ci_high !== null ? ` [${m.ci_low.toFixed(2)}, ${m.ci_high.toFixed(2)}]` : ''}` : '—')

function label(r: ResultRow): string {
  if (r.method === 'base') return 'base (no news)'
  if (r.method === 'icl') return 'ICL (news in context)'
  const parts = [r.method === 'ft_icl' ? `FT+ICL ${r.protocol}` : `FT ${r.protocol}`]
  if (r.samples) parts.push(`n=${r.samples}`)
  return parts.join(' ')
}

/** The experiment's result table as fixed-width text: one block per model, base / ICL / each FT row. */
export function formatResults(results: ExperimentResults): string {
  const out: string[] = []
  const models = [...new Set(results.rows.map((r) => r.model))]
  for (const model of models) {
    for (const set of ['news', 'control'] as const) {
      const rows = results.rows.filter((r) => r.model === model && r.set === set)
      if (rows.length === 0) continue
      const types = set === 'news' ? ['recall', 'implication'] : ['knowledge', 'reasoning']
      const head = ['method', 'accuracy [95% CI]', ...types, ...(set === 'news' ? ['gap closed [95% CI]', 'train FLOPs'] : ['change vs base'])]
      const body = rows.map((r) => [
        label(r),
        interval(r.accuracy),
        ...types.map((t) => pct(r.by_type[t])),
        ...(set === 'news' ? [r.method === 'ft' ? ratio(r.gap_closed) : '', r.compute_flops ? r.compute_flops.toExponential(2) : ''] : [r.forgetting ? interval(r.forgetting) : '']),
      ])
      const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
      const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
      out.push(`${model} — ${set === 'news' ? 'New News questions' : 'control set (forgetting)'} (n = ${rows[0]!.accuracy.n}; chance ${(results.chance * 100).toFixed(0)}%)`)
      out.push(line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), '')
    }
  }
  if (results.notes.length) out.push(...results.notes.map((n) => `note: ${n}`))
  return out.join('\n')
}
