import { seededRandom } from '@sys2ft/service-kit'

/**
 * Seeded randomness: the option order of each question and the bootstrap resamples must come out
 * the same on every machine and every resume, so nothing here uses Math.random. The option order
 * lives with the evaluation prompt in @sys2ft/dataset (the lm-eval export shows the same order).
 */
export { seedOf } from '@sys2ft/service-kit'
export { optionOrder } from '@sys2ft/dataset'

/** Numbers in [0, 1) from a seed (shared with training's mixing). */
export const rng = seededRandom
