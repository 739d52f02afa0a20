// The sliced text checks (a JSONL upload decoded and checked a slice at a time, the event loop let
// through between slices) answer exactly as the one-piece checks do: the same text, the same refusal
// naming the same byte offset, the same field error.
import t from 'tap'
import { ProblemError } from '../src/problem.ts'
import { decodeUtf8Strict, decodeUtf8StrictSliced, unstorableFields, unstorableFieldsSliced } from '../src/text.ts'
import { runSliced, runToEnd, TimeSlicer } from '../src/slices.ts'

const MB = 1 << 20
// multi-byte characters of every length, so slice edges (every 2 MB) fall inside characters
const unit = Buffer.from('ascii é ⊕ 😀 — ')
const big = (bytes: number) => {
  const b = Buffer.alloc(bytes)
  for (let at = 0; at < bytes; at += unit.length) unit.copy(b, at, 0, Math.min(unit.length, bytes - at))
  return b
}
const outcome = async (f: () => string | Promise<string>) => {
  try {
    return { text: await f() }
  } catch (err) {
    if (!(err instanceof ProblemError)) throw err
    return { status: err.status, code: err.code, detail: err.message, errors: err.errors }
  }
}

t.test('decodeUtf8StrictSliced: the same text, or the same refusal at the same offset', async (t) => {
  const body = big(5 * MB + 7)
  const { text, pieces } = await decodeUtf8StrictSliced(body)
  t.ok(text === decodeUtf8Strict(body), 'a valid body decodes to the same text')
  t.ok(pieces.length > 1 && pieces.join('') === text, `its ${pieces.length} pieces make the text`)
  // bad bytes near the start, on and around slice edges (2 MB), inside a character, and at the very end
  const edges = [10, 2 * MB - 1, 2 * MB, 2 * MB + 1, 4 * MB - 2, 4 * MB + 3, body.length - 1]
  for (const at of edges) {
    for (const bad of [[0xff], [0xc3, 0x28], [0x80]]) {
      const b = Buffer.from(body)
      Buffer.from(bad).copy(b, Math.min(at, b.length - bad.length))
      t.same(await outcome(async () => (await decodeUtf8StrictSliced(b)).text), await outcome(() => decodeUtf8Strict(b)), `bad ${bad.map((x) => x.toString(16)).join(' ')} at ${at}`)
    }
  }
  const cut = body.subarray(0, body.indexOf(Buffer.from('😀'), 3 * MB) + 2) // ends inside a 4-byte character
  t.same(await outcome(async () => (await decodeUtf8StrictSliced(cut)).text), await outcome(() => decodeUtf8Strict(cut)), 'an unfinished last character')
})

t.test('unstorableFieldsSliced: the same field errors as unstorableFields', async (t) => {
  const text = big(3 * MB).toString()
  const cases: Record<string, string> = {
    clean: text,
    nul: `${text.slice(0, 2_500_000)}\u0000${text.slice(2_500_000)}`,
    'lone surrogate': `${text.slice(0, 1_200_000)}\ud800${text.slice(1_200_000)}`,
    'both (NUL named first)': `\udc00${text}\u0000`,
    // a surrogate pair exactly on a slice edge (1 M characters) is not a lone surrogate
    'pair on the edge': `${'x'.repeat((1 << 20) - 1)}😀${text}`,
  }
  for (const [name, value] of Object.entries(cases)) {
    t.same(await unstorableFieldsSliced(value, ''), unstorableFields(value, ''), name)
    const pieces = [value.slice(0, 1000), value.slice(1000, 2_000_000), value.slice(2_000_000)]
    t.same(await unstorableFieldsSliced(value, '', 20, pieces), unstorableFields(value, ''), `${name}, checked in pieces`)
  }
  t.same(await unstorableFieldsSliced({ a: 'b\u0000' }, '/body'), unstorableFields({ a: 'b\u0000' }, '/body'), 'objects: as before')
})

t.test('runSliced lets the event loop through; runToEnd gives the same result', async (t) => {
  function* work(): Generator<void, number> {
    let n = 0
    const end = performance.now() + 200
    while (performance.now() < end) {
      n += 1
      yield
    }
    return n > 0 ? 1 : 0
  }
  let ticks = 0
  const timer = setInterval(() => (ticks += 1), 1)
  const result = await runSliced(work(), new TimeSlicer(5))
  clearInterval(timer)
  t.equal(result, 1)
  t.ok(ticks >= 10, `a 1 ms timer ran ${ticks} times during 200 ms of sliced work`)
  t.equal(runToEnd(work()), 1)
})
