// Coverage of the bootstrap intervals on simulated evaluations whose news items differ the way real
// ones do: a model gets some items wholly right and others wholly wrong, so the 5 questions of one
// item are correlated. The cluster bootstrap (resampling items) must keep its nominal 95%; the
// per-question bootstrap (each question its own cluster) must be seen to fall short, or this test
// could not tell the two apart. Seeded: the same figures on every run.
import t from 'tap'
import { seededRandom } from '@sys2ft/service-kit'
import { clusterBootstrap } from '../src/domain/stats.ts'

const ITEMS = 30
const PER_ITEM = 5
const REPLICATIONS = 300
const settings = (seed: number) => ({ resamples: 1000, seed, level: 0.95 })

// item effects on the logit scale: logit p_item = MU + SIGMA·z, z ~ N(0, 1); SIGMA 1.5 puts item
// accuracies anywhere from ~5% to ~95% around a 35% mean (ICC ≈ 0.3, as base runs show per item)
const MU = -0.8
const SIGMA = 1.5
// the ICL gain varies by item too: some news the model uses, some it ignores
const GAIN = 0.9
const TAU = 2

const logistic = (x: number) => 1 / (1 + Math.exp(-x))
/** E[logistic(m + s·Z)], Z ~ N(0, 1), by Simpson's rule on [-8, 8]: the population accuracy. */
function expectedAccuracy(m: number, s: number): number {
  const steps = 4000
  const h = 16 / steps
  let sum = 0
  for (let i = 0; i <= steps; i++) {
    const z = -8 + i * h
    const w = i === 0 || i === steps ? 1 : i % 2 ? 4 : 2
    sum += w * logistic(m + s * z) * Math.exp(-z * z / 2)
  }
  return (sum * h) / 3 / Math.sqrt(2 * Math.PI)
}
const TRUE_BASE = expectedAccuracy(MU, SIGMA)
// ICL on an item: MU + SIGMA·z + GAIN + TAU·w, with w independent of z: a normal with the variances added
const TRUE_GAIN = expectedAccuracy(MU + GAIN, Math.hypot(SIGMA, TAU)) - TRUE_BASE

function normal(next: () => number): number {
  // Box–Muller; 1 − u keeps the logarithm finite
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())
}

/** One simulated pair of runs (base and ICL) on ITEMS × PER_ITEM questions. */
function simulate(next: () => number) {
  const base: number[] = []
  const icl: number[] = []
  const items: string[] = []
  for (let i = 0; i < ITEMS; i++) {
    const z = normal(next)
    const w = normal(next)
    const pBase = logistic(MU + SIGMA * z)
    const pIcl = logistic(MU + SIGMA * z + GAIN + TAU * w)
    for (let q = 0; q < PER_ITEM; q++) {
      base.push(next() < pBase ? 1 : 0)
      icl.push(next() < pIcl ? 1 : 0)
      items.push(`item${i}`)
    }
  }
  return { base, icl, items, questions: items.map((_, k) => `q${k}`) }
}

const stats = { base: ([b]: number[]) => b!, gain: ([b, i]: number[]) => i! - b! }
const covers = (e: { ci_low: number | null; ci_high: number | null }, truth: number) => e.ci_low !== null && e.ci_low <= truth && truth <= e.ci_high!

const started = Date.now()
const next = seededRandom(20251102)
const hits = { cluster: { base: 0, gain: 0 }, question: { base: 0, gain: 0 } }
for (let r = 0; r < REPLICATIONS; r++) {
  const sim = simulate(next)
  const byItem = clusterBootstrap([sim.base, sim.icl], sim.items, stats, settings(r))
  const byQuestion = clusterBootstrap([sim.base, sim.icl], sim.questions, stats, settings(r))
  if (covers(byItem.base, TRUE_BASE)) hits.cluster.base++
  if (covers(byItem.gain, TRUE_GAIN)) hits.cluster.gain++
  if (covers(byQuestion.base, TRUE_BASE)) hits.question.base++
  if (covers(byQuestion.gain, TRUE_GAIN)) hits.question.gain++
}
const share = (n: number) => n / REPLICATIONS
const shown = (n: number) => `${(share(n) * 100).toFixed(1)}%`

t.test('the truth the simulation is scored against', async (t) => {
  t.ok(TRUE_BASE > 0.3 && TRUE_BASE < 0.45, `base accuracy ${TRUE_BASE.toFixed(4)}`)
  t.ok(TRUE_GAIN > 0.1 && TRUE_GAIN < 0.2, `ICL gain ${TRUE_GAIN.toFixed(4)}`)
})

t.test('cluster bootstrap over news items: about 95% of the 95% intervals cover the truth', async (t) => {
  t.ok(share(hits.cluster.base) >= 0.9, `accuracy: ${shown(hits.cluster.base)} of ${REPLICATIONS}`)
  t.ok(share(hits.cluster.gain) >= 0.9, `paired ICL gain: ${shown(hits.cluster.gain)} of ${REPLICATIONS}`)
})

t.test('per-question bootstrap on the same data: intervals too narrow, coverage clearly short', async (t) => {
  t.ok(share(hits.question.base) <= 0.86, `accuracy: ${shown(hits.question.base)}`)
  t.ok(share(hits.question.gain) <= 0.86, `paired ICL gain: ${shown(hits.question.gain)}`)
  t.ok(hits.cluster.base - hits.question.base >= 0.08 * REPLICATIONS, 'at least 8 points below the cluster bootstrap (accuracy)')
  t.ok(hits.cluster.gain - hits.question.gain >= 0.08 * REPLICATIONS, 'at least 8 points below the cluster bootstrap (gain)')
  t.comment(`coverage over ${REPLICATIONS} simulated evaluations (${ITEMS} items × ${PER_ITEM} questions): cluster ${shown(hits.cluster.base)} / ${shown(hits.cluster.gain)}, per question ${shown(hits.question.base)} / ${shown(hits.question.gain)} (accuracy / ICL gain); ${Date.now() - started} ms`)
})
