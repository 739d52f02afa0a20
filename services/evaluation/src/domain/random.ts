import { createHash } from 'node:crypto'
import { seededRandom } from '@sys2ft/service-kit'

/**
 * Seeded randomness: the option order of each question and the bootstrap resamples must come out
 * the same on every machine and every resume, so nothing here uses Math.random.
 */

/** A 32-bit seed from any key (the run's seed and a question id, say). */
export function seedOf(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32LE(0)
}

/** Numbers in [0, 1) from a seed (shared with training's mixing). */
export const rng = seededRandom

/**
 * The order in which a question's options are shown: `order[k]` is the original index of the option
 * shown at position k. Fisher–Yates from a generator seeded by (run seed, question id), so a resumed
 * run and a later run with the same seed show each question exactly as before.
 */
export function optionOrder(count: number, seed: number, questionId: string, shuffle: boolean): number[] {
  const order = Array.from({ length: count }, (_, i) => i)
  if (!shuffle) return order
  const next = rng(seedOf('options', seed, questionId))
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  return order
}
