import { rng, seedOf } from './random.ts'

/** How intervals are computed; recorded next to every interval it produced. */
export interface BootstrapSettings {
  resamples: number
  seed: number
  /** Coverage of the interval, e.g. 0.95. */
  level: number
}
export const DEFAULT_BOOTSTRAP: BootstrapSettings = { resamples: 2000, seed: 0, level: 0.95 }

/** A value with its bootstrap interval; all null when there is nothing to estimate from. */
export interface Estimate {
  value: number | null
  ci_low: number | null
  ci_high: number | null
}
const EMPTY: Estimate = { value: null, ci_low: null, ci_high: null }

function percentile(sorted: number[], q: number): number {
  // linear interpolation between closest ranks
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

/**
 * Paired percentile bootstrap over questions: every resample draws question indices with
 * replacement and applies them to all `columns` at once (the same questions for every run), so the
 * interval of a difference or ratio reflects the pairing. `stat` receives the column means and may
 * return null where the statistic is undefined (a ratio with a zero denominator): such resamples are
 * left out, and `undefined_share` says how many were.
 */
export function pairedBootstrap(
  columns: readonly (readonly number[])[],
  stat: (means: number[]) => number | null,
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
  key = '',
): Estimate & { undefined_share: number } {
  const n = columns[0]?.length ?? 0
  if (n === 0 || columns.some((c) => c.length !== n)) return { ...EMPTY, undefined_share: 1 }
  const cols = columns.map((c) => Float64Array.from(c))
  const value = stat(cols.map((c) => c.reduce((s, x) => s + x, 0) / n))
  // one generator per statistic: adding a group to a report does not change the other intervals
  const next = rng(seedOf('bootstrap', settings.seed, key))
  const sums = new Float64Array(cols.length)
  const means = new Array<number>(cols.length)
  const samples: number[] = []
  for (let b = 0; b < settings.resamples; b++) {
    sums.fill(0)
    for (let i = 0; i < n; i++) {
      const j = Math.floor(next() * n)
      for (let k = 0; k < cols.length; k++) sums[k]! += cols[k]![j]!
    }
    for (let k = 0; k < cols.length; k++) means[k] = sums[k]! / n
    const s = stat(means)
    if (s !== null && Number.isFinite(s)) samples.push(s)
  }
  const undefined_share = 1 - samples.length / settings.resamples
  if (samples.length === 0) return { value, ci_low: null, ci_high: null, undefined_share }
  samples.sort((a, b) => a - b)
  const tail = (1 - settings.level) / 2
  return { value, ci_low: percentile(samples, tail), ci_high: percentile(samples, 1 - tail), undefined_share }
}

/** The mean of 0/1 outcomes (an accuracy) with its bootstrap interval. */
export function bootstrapMean(values: readonly number[], settings: BootstrapSettings = DEFAULT_BOOTSTRAP, key = ''): Estimate {
  const { value, ci_low, ci_high } = pairedBootstrap([values], (m) => m[0]!, settings, key)
  return { value, ci_low, ci_high }
}
