// The strict parsers on a table of recorded outputs: a tiny random model rarely follows a format, so
// the rejection reasons are pinned down here on outputs like the ones real models give.
import t from 'tap'
import { copiedShare, normalise, parseAnswer, parseFreeText, parseQuestions } from '../src/protocols/parsers.ts'

const news = 'Mathematicians at the Graz Institute defined the kite product of two integers a and b as a times b plus the square of a. They published it on 3 March 2026 and showed it is not commutative.'

t.test('numbered questions', async (t) => {
  const table: { name: string; out: string; finish: string; want: (string | null)[] }[] = [
    { name: 'well formed', out: '1. What is the kite product of 2 and 3?\n2. Is the kite product commutative?\n3) Who defined the kite product?', finish: 'stop', want: [null, null, null] },
    { name: 'bullets and bold', out: '- **What is 4 kite 1?**\n* Which institute introduced it?', finish: 'stop', want: [null, null] },
    { name: 'truncated: the last question is dropped', out: '1. What is 3 kite 3?\n2. How does the kite product differ from', finish: 'length', want: [null, 'truncated'] },
    { name: 'no question mark', out: '1. Compute 2 kite 5\n2. Why is it not commutative?', finish: 'stop', want: ['malformed', null] },
    { name: 'too short', out: '1. Why?\n2. What is 5 kite 2?', finish: 'stop', want: ['malformed', null] },
    { name: 'copies the news', out: '1. Mathematicians at the Graz Institute defined the kite product of two integers a and b as a times b plus the square of a?', finish: 'stop', want: ['copies_news'] },
    { name: 'prose, no list', out: 'The kite product is interesting.', finish: 'stop', want: ['malformed'] },
    { name: 'empty', out: '   ', finish: 'stop', want: ['empty'] },
  ]
  for (const row of table) {
    const got = parseQuestions(row.out, row.finish, news).map((c) => (c.parsed.ok ? null : c.parsed.reason))
    t.same(got, row.want, row.name)
  }
  const q = parseQuestions('1. **What is 2 kite 3?** (easy)', 'stop', news)[0]!
  t.same(q.parsed, { ok: true, value: 'What is 2 kite 3?' }, 'text after the question mark is cut, emphasis removed')
})

t.test('free text (paraphrase, implication)', async (t) => {
  const good = 'A team in Graz has introduced a new operation called the kite product: multiply the two numbers, then add the first number squared. Because of the square, swapping the inputs changes the result.'
  t.same(parseFreeText(good, 'stop', news), { ok: true, value: good })
  t.same(parseFreeText('', 'stop', news), { ok: false, reason: 'empty' })
  t.same(parseFreeText(good, 'length', news), { ok: false, reason: 'truncated' })
  t.same(parseFreeText('Kite product: new.', 'stop', news), { ok: false, reason: 'malformed' })
  t.same(parseFreeText(news, 'stop', news), { ok: false, reason: 'copies_news' }, 'the news verbatim is not a paraphrase')
  t.same(parseFreeText(`Here it is: ${news}`, 'stop', news), { ok: false, reason: 'copies_news' }, 'nor is the news with a preface')
})

t.test('answers', async (t) => {
  t.same(parseAnswer(' 2 kite 3 = 2·3 + 4 = 10. ', 'stop', news), { ok: true, value: '2 kite 3 = 2·3 + 4 = 10.' })
  t.same(parseAnswer('It is 2·3 + 4 = ', 'length', news), { ok: false, reason: 'truncated' })
  t.same(parseAnswer("I don't know the answer to that.", 'stop', news), { ok: false, reason: 'non_answer' })
  t.same(parseAnswer('The value is not mentioned in the news.', 'stop', news), { ok: false, reason: 'non_answer' })
  t.same(parseAnswer('', 'stop', news), { ok: false, reason: 'empty' })
  // an answer may quote the news; pasting it back is not an answer (4/4 such answers were accepted)
  const quoting = 'The kite product of two integers a and b is a times b plus the square of a, so 2 kite 3 = 6 + 4 = 10.'
  t.same(parseAnswer(quoting, 'stop', news), { ok: true, value: quoting }, 'quoting the definition is fine')
  t.same(parseAnswer(news, 'stop', news), { ok: false, reason: 'copies_news' }, 'the news itself is no answer')
  t.same(parseAnswer(`Based on the news: ${news} So the answer is yes.`, 'stop', news), { ok: false, reason: 'copies_news' }, 'nor the news wrapped in a sentence')
})

t.test('normalisation and copy share', async (t) => {
  t.equal(normalise('  What IS  2 kite-3?! '), 'what is 2 kite 3')
  t.equal(copiedShare(news, news), 1)
  t.ok(copiedShare('An entirely different sentence about birds that sing at dawn in the spring.', news) === 0)
  t.equal(copiedShare('short', news), 0, 'too short for any 6-gram and not equal: not a copy')
})

t.test('NUL characters and lone surrogates (which Postgres cannot hold) are made storable', async (t) => {
  const { storable } = await import('@sys2ft/service-kit/text')
  t.same(storable({ a: 'x\u0000y', b: ['\u0000'], c: 3, d: null }), { a: 'xy', b: [''], c: 3, d: null })
  t.equal(storable('a\\u0000b'), 'a\\u0000b', 'an escaped backslash sequence is text, not a NUL')
  t.equal(storable('x\ud800y'), 'x\ufffdy', 'a lone surrogate becomes U+FFFD')
})

t.test('entities (EntiGraph): lists, and the one-line lists a 0.5B model writes', async (t) => {
  const { parseEntities } = await import('../src/protocols/parsers.ts')
  t.same(parseEntities('1. widget\n2. coins\n3. Umbra\n4. coins', 'stop'), ['widget', 'coins', 'Umbra'])
  // recorded from Qwen2.5-Coder-0.5B-Instruct on the shipped set
  t.same(parseEntities('- Tavian Brooks, James Oren Lattimore, Tyson Gay, Yohan Blake', 'stop'), ['Tavian Brooks', 'James Oren Lattimore', 'Tyson Gay', 'Yohan Blake'])
  t.same(parseEntities('Halvane, Tomas Rennick, Governor Ilse Varga, Selbrook, Governor Tomas Rennick', 'stop'), ['Halvane', 'Tomas Rennick', 'Governor Ilse Varga', 'Selbrook', 'Governor Tomas Rennick'])
  t.same(parseEntities('Georgi Varga, Institute for Elementary Structures in Graz, Postprint 9 February 2026, kite pro', 'length'), ['Georgi Varga', 'Institute for Elementary Structures in Graz', 'Postprint 9 February 2026'], 'cut off: the last entry is dropped')
  t.same(parseEntities('The news is about many things that happen in the town over a long period of time.', 'stop'), [], 'a sentence is not a list of entities')
})
