import { createHash } from 'node:crypto'

/** mulberry32: a small seeded PRNG for shuffles, samples and resampling that must repeat exactly on
 * every machine and every resume (nothing that must be reproducible uses Math.random); returns [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A 32-bit seed from any key (a run's seed and a question id, say). */
export function seedOf(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32LE(0)
}
