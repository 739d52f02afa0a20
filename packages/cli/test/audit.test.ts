// The no-news audit's confidence: the letters' log-probabilities come in the order the options were
// shown, the pick as an option index. Reading the pick's index in display order (the audit did, until
// 2026-12-04) took another letter's probability whenever the options were shuffled.
import t from 'tap'
import { letterConfidence } from '../src/audit.ts'

const row = (order: number[], logprob: number[], pick: number) => ({ option_order: order, scores: { picks: { letter: pick }, letter: { logprob }, correct_by: { letter: true } } })

t.test('the pick is read where it was shown', async (t) => {
  // option 1 was shown third (C), and C holds most of the mass: the pick's confidence is C's
  const p = letterConfidence(row([3, 2, 1, 0], [Math.log(0.1), Math.log(0.1), Math.log(0.7), Math.log(0.1)], 1))
  t.ok(Math.abs(p - 0.7) < 1e-12, `p = ${p}`)
})

t.test('renormalised over the four letters', async (t) => {
  // the letters hold half the mass, the pick 0.2 of it all: 0.4 of the letters'
  const p = letterConfidence(row([0, 1, 2, 3], [Math.log(0.1), Math.log(0.2), Math.log(0.1), Math.log(0.1)], 1))
  t.ok(Math.abs(p - 0.4) < 1e-12, `p = ${p}`)
})

t.test('a pick that was not shown is an error, not a number', async (t) => {
  t.throws(() => letterConfidence(row([0, 1, 2, 3], [0, 0, 0, 0], 7)), /not in option_order/)
})
