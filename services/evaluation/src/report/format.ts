import type { EstimateT, GroupStatsT } from '../schemas/summary.ts'
import type { ComparisonGroupT, ComparisonKindT } from '../schemas/reports.ts'

/** Every piece of text from the database goes through this (set names, adapter names, labels). */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

export const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`)
export const signed = (x: number | null) => (x === null ? '–' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} pt`)
const ratio = (x: number | null) => (x === null ? '–' : x.toFixed(2))
const interval = (e: EstimateT, f: (x: number | null) => string) => (e.ci_low === null ? '' : ` <span class="ci">[${esc(f(e.ci_low))}, ${esc(f(e.ci_high))}]</span>`)

export const COMPARISONS: Record<ComparisonKindT, { title: string; short: string; format: (x: number | null) => string }> = {
  icl_gain: { title: 'ICL gain = acc(ICL) − acc(base)', short: 'ICL gain', format: signed },
  ft_icl_gap: { title: 'FT-ICL gap = acc(ICL) − acc(FT)', short: 'FT-ICL gap', format: signed },
  gap_closed: { title: 'Fraction of the gap closed = (acc(FT) − acc(base)) / (acc(ICL) − acc(base)), shown only where the ICL gain’s interval lies above 0', short: 'gap closed', format: ratio },
  overexposure: { title: 'Overexposure = acc(FT+ICL) − acc(ICL)', short: 'overexposure', format: signed },
  forgetting: { title: 'Forgetting = acc(FT) − acc(base) on the control set', short: 'forgetting', format: signed },
  budget_diff: { title: 'At equal budget = acc(b) − acc(a), two adapters trained at one budget', short: 'at equal budget', format: signed },
}

export const accuracyCell = (g: GroupStatsT | undefined) => (g ? `${esc(pct(g.accuracy.value))}${interval(g.accuracy, pct)}` : '–')

/**
 * A comparison's value with its interval; for a withheld gap closed, "undefined" with its reason on
 * hover (and, where `withGain`, the ICL gain that withheld it in view).
 */
export function comparisonCell(kind: ComparisonKindT, g: ComparisonGroupT | undefined, withGain = false): string {
  if (!g) return '–'
  const f = COMPARISONS[kind].format
  if (g.undefined_reason !== null) {
    const gain = withGain && g.icl_gain ? ` <span class="ci">ICL gain ${esc(signed(g.icl_gain.value))}${interval(g.icl_gain, signed)}; ICL ≤ base in ${esc((g.undefined_share * 100).toFixed(0))}% of resamples</span>` : ''
    return `<span class="undef" title="${esc(g.undefined_reason)}">undefined</span>${gain}`
  }
  const share = kind === 'gap_closed' && g.undefined_share > 0 ? ` <span class="ci">${esc((g.undefined_share * 100).toFixed(0))}% of resamples undefined</span>` : ''
  return `${esc(f(g.estimate.value))}${interval(g.estimate, f)}${share}`
}

export const table = (head: string[], rows: string[][], cls = '') =>
  `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`
