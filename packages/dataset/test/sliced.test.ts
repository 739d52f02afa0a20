// The sliced JSONL reader and validator (an upload read in time slices, a decoded piece at a time)
// give exactly what the one-piece functions give.
import t from 'tap'
import { countJsonlLines, countJsonlLinesSliced, loadBuiltin, parseJsonl, parseJsonlSliced, validateNewsSet, validateNewsSetSliced } from '../src/index.ts'

const { news } = loadBuiltin()
const lines = news.map((n) => JSON.stringify(n))

t.test('count and parse: the text whole or in pieces cut anywhere', async (t) => {
  const texts = {
    items: `${lines.join('\n')}\n`,
    'blank lines, no final newline, bad JSON': `\n  \n${lines[0]}\n{"id": \n\r\n${lines[1]}`,
    empty: '',
  }
  for (const [name, text] of Object.entries(texts)) {
    const whole = parseJsonl(text)
    t.same(await parseJsonlSliced(text), whole, `${name}: parsed`)
    t.equal(await countJsonlLinesSliced(text), countJsonlLines(text), `${name}: counted`)
    // cuts inside lines, on newlines, next to each other
    const cuts = [0, 1, 2, 3, Math.floor(text.length / 3), Math.floor(text.length / 3) + 1, text.length - 1].filter((c, i, a) => c >= 0 && c <= text.length && a.indexOf(c) === i).sort((a, b) => a - b)
    const pieces = [...cuts, text.length].map((end, i) => text.slice(i === 0 ? 0 : cuts[i - 1], end))
    t.equal(pieces.join(''), text)
    t.same(await parseJsonlSliced(pieces), whole, `${name}: parsed in ${pieces.length} pieces`)
    t.equal(await countJsonlLinesSliced(pieces), countJsonlLines(text), `${name}: counted in pieces`)
  }
})

t.test('validateNewsSetSliced: the same report', async (t) => {
  const items = parseJsonl(`${lines.join('\n')}\n${JSON.stringify({ ...news[0], title: '' })}\n${JSON.stringify({ ...news[1], id: 'x-1', questions: news[1]!.questions.map((q) => ({ ...q, id: 'q1' })) })}\n`)
  const copy = () => structuredClone(items) // the validator fills in answer_text and scopes ids in place
  t.same(await validateNewsSetSliced(copy(), { shipped: false }), validateNewsSet(copy(), { shipped: false }))
  t.same(await validateNewsSetSliced(copy(), { shipped: true, evaluateChecks: true }), validateNewsSet(copy(), { shipped: true, evaluateChecks: true }))
})
