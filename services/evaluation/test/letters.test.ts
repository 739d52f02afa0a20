// The answer-letter extraction on a table of tricky model outputs.
import t from 'tap'
import { extractChoice } from '../src/domain/letters.ts'

const options = ['24', '12', '16', '-2']

// [model output, expected letter (null: no choice can be read), expected rule]
const cases: [string, string | null, string | null][] = [
  ['The answer is (C).', 'C', 'marker'],
  ['Answer: b', 'B', 'marker'],
  ['I think A or B... Answer: D', 'D', 'marker'],
  ['**C**', 'C', 'letter'],
  ['The answer is **C**, because 36 − 24 + 4 = 16.', 'C', 'marker'],
  ['**Answer:** C', 'C', 'marker'],
  ['Answer: **D**', 'D', 'marker'],
  ['Let me think. A looks plausible, but B is the ordinary product.\nAnswer: C', 'C', 'marker'],
  ['Answer: A\nWait, that is wrong.\nFinal answer: c.', 'C', 'marker'],
  ['The correct option is B.', 'B', 'marker'],
  ['\\boxed{D}', 'D', 'marker'],
  ['answer: (a) 24', 'A', 'marker'],
  ['The answer is a bit unclear to me.', null, null],
  ['C', 'C', 'letter'],
  ['(b)', 'B', 'letter'],
  ['a', 'A', 'letter'],
  ['D.', 'D', 'letter'],
  ['A. 24', 'A', 'leading'],
  ['C) 16 — computed directly.', 'C', 'leading'],
  ['I would pick option B here.', 'B', 'option_word'],
  ['Option A is the product, option C is right.', null, null],
  ['It must be C.', 'C', 'lone'],
  ['A kite product of 6 and 4 is 16.', null, null],
  ['It is a trap: a classic one, not a letter.', null, null],
  ['This is a question about a new operation.', null, null],
  ['I think A or B.', null, null],
  ['In C++ you would write a loop.', null, null],
  ['16', 'C', 'text'],
  ['-2.', 'D', 'text'],
  ['no letter here', null, null],
  ['', null, null],
  ['Answer: E', null, null],
  // "is:" is a marker, and beats an option named earlier
  ['Option A is tempting, but the answer is: D', 'D', 'marker'],
  ['The answer is: D', 'D', 'marker'],
  ['My final answer would be - B.', 'B', 'marker'],
  // a walk through the options is no choice by its first letter
  ['A) 24 is wrong. C) 16 is right.', null, null],
  ['A. 24 is the product\nB. 12 is the sum\nThe answer is C.', 'C', 'marker'],
]

t.test('extraction table', async (t) => {
  for (const [text, letter, rule] of cases) {
    const got = extractChoice(text, options)
    t.equal(got.index === null ? null : 'ABCD'[got.index], letter, `${JSON.stringify(text)} → ${letter ?? 'nothing'}`)
    t.equal(got.rule, rule, `${JSON.stringify(text)} by rule ${rule}`)
  }
})

t.test('the letter range follows the number of options', async (t) => {
  t.equal(extractChoice('Answer: C', ['x', 'y']).index, null, 'C does not exist with two options')
  t.equal(extractChoice('Answer: F', ['1', '2', '3', '4', '5', '6']).index, 5)
})
