// The chaos schedule: which process is killed, in which phase of the experiment, how long after the
// phase began and for how long it stays down — all drawn from one seeded PRNG, so a seed names a
// schedule (the experiment's own timing still varies from run to run; what each fault hit is logged).
import { seededRandom } from '@sys2ft/service-kit/random'

/** The seeded PRNG the product uses for everything that must repeat (mulberry32). */
export const prng = seededRandom

export const PHASES = ['generation', 'training', 'evaluation'] as const
export type Phase = (typeof PHASES)[number]
export type Target = 'generation' | 'training' | 'evaluation' | 'worker' | 'postgres'

export interface Fault {
  target: Target
  /** The experiment phase it waits for: its generation run, its training job, its FT eval run exists. */
  phase: Phase
  /** How long after the phase was seen the kill comes. */
  delayMs: number
  /** How long the process stays dead before it is started again. */
  downMs: number
}

/**
 * One kill -9 of each service, of a worker and of Postgres. Generation dies while it generates (its
 * delay is counted from its first written chunk, and short: the tiny model's run takes ~0.5 s) and
 * training and a worker while the job trains (where their faults matter); evaluation (the
 * experiment's coordinator, and the base/ICL/FT eval runs) and Postgres in any phase (in the last one
 * counted from the FT eval run's start, and short: it takes ~1 s). Sorted by phase,
 * then delay: they run one after another.
 */
export function chaosSchedule(seed: number): Fault[] {
  const rnd = prng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const between = (lo: number, hi: number) => Math.round(lo + rnd() * (hi - lo))
  const faults: Fault[] = ([
    ['generation', 'generation'],
    ['training', 'training'],
    ['worker', 'training'],
    ['evaluation', pick(PHASES)],
    ['postgres', pick(PHASES)],
  ] as [Target, Phase][]).map(([target, phase]) => ({ target, phase, delayMs: target === 'generation' ? between(0, 150) : phase === 'evaluation' ? between(0, 300) : between(0, 1_200), downMs: between(200, 2_000) }))
  return faults.sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase) || a.delayMs - b.delayMs)
}
