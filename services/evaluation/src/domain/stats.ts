import { rng, seedOf } from './random.ts'

/** How intervals are computed; recorded next to every interval it produced. */
export interface BootstrapSettings {
  resamples: number
  seed: number
  /** Coverage of the interval, e.g. 0.95. */
  level: number
}
export const DEFAULT_BOOTSTRAP: BootstrapSettings = { resamples: 2000, seed: 0, level: 0.95 }
/** Recorded with every interval: what one resample draws. */
export const CLUSTERS = 'news_items' as const

/** A value with its bootstrap interval; all null when there is nothing to estimate from. */
export interface Estimate {
  value: number | null
  ci_low: number | null
  ci_high: number | null
}
export type BootstrapEstimate = Estimate & {
  /** Share of resamples where the statistic was undefined (null), left out of the interval. */
  undefined_share: number
}
/** A statistic of the columns' means (one mean per run); null where it is undefined. */
export type Statistic = (means: number[]) => number | null

function percentile(sorted: number[], q: number): number {
  // linear interpolation between closest ranks
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

/**
 * Paired cluster bootstrap. Questions come in clusters (the 5 questions of one news item share it,
 * so their outcomes are correlated); resampling single questions would treat them as independent
 * and give intervals that are too narrow (test/coverage.test.ts measures by how much). Every resample
 * draws whole clusters with replacement and applies them to all `columns` at once (the same items
 * for every run compared), so differences and ratios keep their pairing.
 *
 * Several statistics share the same resamples: a guard (the ICL gain) and the ratio it guards (gap
 * closed) are computed on exactly the same draws. A statistic may return null where it is
 * undefined; such resamples are left out of its interval and counted in `undefined_share`.
 *
 * The generator is seeded by (settings.seed, key, the cluster list), so any two comparisons over the
 * same items in one report resample the same items, whichever runs they compare.
 */
export function clusterBootstrap<K extends string>(
  columns: readonly (readonly number[])[],
  clusters: readonly string[],
  stats: Record<K, Statistic>,
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
  key = '',
): Record<K, BootstrapEstimate> {
  const names = Object.keys(stats) as K[]
  const n = clusters.length
  const empty = () => Object.fromEntries(names.map((k) => [k, { value: null, ci_low: null, ci_high: null, undefined_share: 1 }])) as Record<K, BootstrapEstimate>
  if (n === 0 || columns.length === 0 || columns.some((c) => c.length !== n)) return empty()

  // per cluster: how many questions, and each column's sum over them
  const index = new Map<string, number>()
  for (const c of clusters) if (!index.has(c)) index.set(c, index.size)
  const C = index.size
  const K = columns.length
  const size = new Float64Array(C)
  const sums = new Float64Array(C * K)
  clusters.forEach((c, i) => {
    const j = index.get(c)!
    size[j]! += 1
    for (let k = 0; k < K; k++) sums[j * K + k]! += columns[k]![i]!
  })
  const meansOf = (count: number, total: Float64Array) => Array.from(total, (s) => s / count)
  const totals = new Float64Array(K)
  for (let j = 0; j < C; j++) for (let k = 0; k < K; k++) totals[k]! += sums[j * K + k]!
  const point = meansOf(n, totals)

  const samples = new Map<K, number[]>(names.map((k) => [k, []]))
  const next = rng(seedOf('bootstrap', settings.seed, key, [...index.keys()].join('\u0001')))
  for (let b = 0; b < settings.resamples; b++) {
    totals.fill(0)
    let count = 0
    for (let d = 0; d < C; d++) {
      const j = Math.floor(next() * C)
      count += size[j]!
      for (let k = 0; k < K; k++) totals[k]! += sums[j * K + k]!
    }
    const means = meansOf(count, totals)
    for (const name of names) {
      const s = stats[name](means)
      if (s !== null && Number.isFinite(s)) samples.get(name)!.push(s)
    }
  }

  const tail = (1 - settings.level) / 2
  return Object.fromEntries(
    names.map((name) => {
      const value = stats[name](point)
      const xs = samples.get(name)!.sort((a, b) => a - b)
      const undefined_share = settings.resamples > 0 ? 1 - xs.length / settings.resamples : 0
      if (xs.length === 0) return [name, { value, ci_low: null, ci_high: null, undefined_share }]
      return [name, { value, ci_low: percentile(xs, tail), ci_high: percentile(xs, 1 - tail), undefined_share }]
    }),
  ) as Record<K, BootstrapEstimate>
}

/** The mean of 0/1 outcomes (an accuracy) with its cluster-bootstrap interval. */
export function bootstrapMean(values: readonly number[], clusters: readonly string[], settings: BootstrapSettings = DEFAULT_BOOTSTRAP, key = ''): Estimate {
  const { value, ci_low, ci_high } = clusterBootstrap([values], clusters, { mean: (m) => m[0]! }, settings, key).mean
  return { value, ci_low, ci_high }
}

/** True when an interval lies wholly above zero: the effect is there at the interval's level. */
export const excludesZeroAbove = (e: Estimate) => e.ci_low !== null && e.ci_low > 0
