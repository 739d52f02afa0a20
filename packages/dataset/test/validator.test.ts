import t from 'tap'
import { checkAnswer, errorsOf, parseJsonl, priorKnowledgeDistractors, validateControlSet, validateNewsSet, type NewsItem } from '../src/index.ts'

const words = (n: number) => Array.from({ length: n }, (_, i) => `word${i}`).join(' ')
const q = (n: number, answer: number, extra: Partial<NewsItem['questions'][number]> = {}) => {
  const options = ['10', '20', '30', '40']
  const explanation = `'${options[(answer + 1) % 4]}' is the usual answer (prior knowledge).`
  return { id: `n-${n}`, type: 'implication' as const, question: 'q?', options, answer_index: answer, answer_text: options[answer]!, explanation, ...extra }
}
const item = (id: string, questions: NewsItem['questions'], extra: Partial<NewsItem> = {}): NewsItem => ({
  id, domain: 'events', title: 't', date: '2026-02-01', text: words(80), questions: questions.map((x, i) => ({ ...x, id: `${id}-q${i + 1}` })), ...extra,
})
const lines = (items: unknown[]) => items.map((value, i) => ({ line: i + 1, value }))
const balanced = (id: string) => item(id, [q(1, 0), q(2, 1), q(3, 2), q(4, 3), q(5, 0)])
/** Four items that meet every rule of the shipped set. */
const wellFormed = () => [balanced('a'), balanced('b'), item('c', [q(1, 1), q(2, 2), q(3, 3), q(4, 1), q(5, 2)]), item('d', [q(1, 3), q(2, 3), q(3, 0), q(4, 1), q(5, 2)])]

t.test('a well-formed set passes, strict rules included', async (t) => {
  const r = validateNewsSet(lines(wellFormed()), { shipped: true })
  t.same(r.issues, [])
  t.equal(r.valid.length, 4)
})

t.test('each broken rule is reported at its line and field', async (t) => {
  const bad = [
    item('a', [q(1, 0, { answer_text: '20' }), q(2, 1), q(3, 2), q(4, 3), q(5, 0)]),
    item('b', [q(1, 0, { options: ['x', 'X ', 'y', 'z'], answer_text: 'x' }), q(2, 1), q(3, 2), q(4, 3), q(5, 0)]),
    item('a', [q(1, 0), q(2, 1), q(3, 2), q(4, 3), q(5, 0)]),
    item('d', [q(1, 0), q(2, 1)], { date: '2024-05-01', text: words(20) }),
    { id: 'e', domain: 'events' },
  ]
  const r = validateNewsSet(lines(bad), { shipped: true })
  const at = (line: number, path: string) => r.issues.find((i) => i.line === line && i.path === path)
  t.ok(at(1, '/questions/0/answer_text'), 'answer_text must match the answer index')
  t.ok(at(2, '/questions/0/options/1'), 'options must be distinct after trimming and case')
  t.ok(at(3, '/id'), 'duplicate item id')
  t.ok(at(4, '/date') && at(4, '/text') && at(4, '/questions'), 'old date, too short, too few questions')
  t.ok(at(5, '/title') || r.issues.some((i) => i.line === 5), 'a structurally broken line')
  t.same(r.valid.map((v) => v.id), ['d'].filter(() => false).concat(r.valid.map((v) => v.id)), 'only valid items are kept')
  t.notOk(r.valid.some((v) => v.id === 'b'), 'a bad item is not kept')
})

t.test('for a user set, the shipped set’s quality rules are warnings', async (t) => {
  const r = validateNewsSet(lines([item('d', [q(1, 0), q(2, 0)], { date: '2020-01-01', text: 'short' })]))
  t.same(errorsOf(r.issues), [])
  t.ok(r.issues.length >= 4)
  t.ok(r.issues.every((i) => i.severity === 'warning'))
})

t.test('answer positions and the longest-option bias are checked over the whole set', async (t) => {
  const allA = ['a', 'b', 'c', 'd'].map((id) => item(id, [q(1, 0), q(2, 0), q(3, 0), q(4, 0), q(5, 0)]))
  const r = validateNewsSet(lines(allA), { shipped: true })
  t.ok(r.issues.find((i) => i.path === 'answer_positions' && /position 0 holds 100\.0%/.test(i.message)))
  const longest = ['a', 'b', 'c', 'd'].map((id) => item(id, [0, 1, 2, 3, 0].map((a, n) => {
    const options = ['1', '2', '3', '4']
    options[a] = 'the longest option of all'
    return { ...q(n, a), options, answer_text: options[a]!, explanation: `'${options[(a + 1) % 4]}' is the usual answer (prior knowledge).` }
  })))
  const r2 = validateNewsSet(lines(longest), { shipped: true })
  t.ok(r2.issues.find((i) => i.path === 'longest_option' && /100\.0%/.test(i.message)))
})

t.test('answer checks are recomputed with math.js', async (t) => {
  t.same(checkAnswer(['ks(a, b) = a * b + a - b'], 'ks(4, 7)', '25'), { ok: true, got: '25' })
  t.equal(checkAnswer([], '1000 + 24', '1,024').ok, true, 'thousands separators are ignored')
  t.equal(checkAnswer([], 'cumsum([1, 2, 3])', '[1, 3, 6]').ok, true, 'lists compare as formatted text')
  t.equal(checkAnswer([], '0.1 + 0.2', '0.3').ok, true, 'numbers compare numerically')
  const wrong = item('m', [q(1, 0, { check: { expr: 'ks(1, 1)' } }), q(2, 1), q(3, 2), q(4, 3), q(5, 0)], { domain: 'mathematics', check: { defs: ['ks(a, b) = a * b + a - b'] } })
  const r = validateNewsSet(lines([wrong]), { evaluateChecks: true })
  t.equal(r.checks.mismatched, 1)
  t.match(r.issues.find((i) => i.path === '/questions/0/check'), { severity: 'error', message: /gives 1, answer_text is 10/ })
  const broken = item('m', [q(1, 0, { check: { expr: 'nope(' } }), q(2, 1), q(3, 2), q(4, 3), q(5, 0)])
  t.match(validateNewsSet(lines([broken]), { evaluateChecks: true }).issues[0], { message: /does not evaluate/ })
  const missing = item('m', [q(1, 0), q(2, 1), q(3, 2), q(4, 3), q(5, 0)], { domain: 'mathematics' })
  t.ok(validateNewsSet(lines([missing]), { shipped: true }).issues.some((i) => i.path === '/questions/0/check'), 'a numeric math implication answer needs a check')
})

t.test('answer_text is optional: derived from answer_index when absent, still checked when present', async (t) => {
  const noText = wellFormed().map((it) => ({ ...it, questions: it.questions.map(({ answer_text: _, ...rest }) => rest) }))
  const r = validateNewsSet(lines(noText), { shipped: true, evaluateChecks: true })
  t.same(r.issues, [], 'no error per question')
  t.same(r.valid[0]!.questions.map((x) => x.answer_text), ['10', '20', '30', '40', '10'])
  const wrong = validateNewsSet(lines([item('a', [q(1, 0, { answer_text: '30' }), q(2, 1)])]))
  t.match(errorsOf(wrong.issues), [{ line: 1, path: '/questions/0/answer_text', message: /must equal options\[0\]/ }])
  const control = validateControlSet(lines([{ id: 'c1', subject: 'geography', type: 'knowledge', question: 'Which river flows through Budapest?', options: ['The Danube', 'The Rhine', 'The Vistula', 'The Elbe'], answer_index: 0 }]))
  t.same(errorsOf(control.issues), [])
  t.equal(control.valid[0]!.answer_text, 'The Danube', 'control questions too')
})

t.test('question ids repeated across items are scoped to their item, with one set-wide note', async (t) => {
  const withLocalIds = (it: NewsItem) => ({ ...it, questions: it.questions.map((x, i) => ({ ...x, id: `q${i + 1}` })) })
  const local = (id: string) => withLocalIds(balanced(id))
  const r = validateNewsSet(lines(wellFormed().map(withLocalIds)))
  t.same(errorsOf(r.issues), [], 'no error per line')
  const notes = r.issues.filter((i) => i.path === 'question_ids')
  t.equal(notes.length, 1)
  t.match(notes[0], { severity: 'warning', message: /q1 in 4 items.*<item id>-<question id>, e\.g\. a-q1/ })
  t.same(r.valid.map((v) => v.questions.map((x) => x.id)), ['a', 'b', 'c', 'd'].map((id) => [1, 2, 3, 4, 5].map((n) => `${id}-q${n}`)))
  t.same(validateNewsSet(lines(wellFormed().map(withLocalIds)), { shipped: true }).issues.filter((i) => i.severity === 'error').map((i) => i.path), ['question_ids'], 'the shipped set keeps globally unique ids: one error, not one per line')
  const mixed = validateNewsSet(lines([balanced('a'), local('b'), local('c')]))
  t.same(mixed.valid[0]!.questions.map((x) => x.id), ['a-q1', 'a-q2', 'a-q3', 'a-q4', 'a-q5'], 'ids already starting with their item id stay as they are')
  const twiceInOne = { ...local('b'), questions: local('b').questions.map((x) => ({ ...x, id: 'q1' })) }
  t.ok(errorsOf(validateNewsSet(lines([local('a'), twiceInOne])).issues).some((i) => i.line === 2 && i.path === '/questions/1/id'), 'within one item an id still has to be unique')
})

t.test('JSONL parsing keeps line numbers and reports bad JSON', async (t) => {
  const parsed = parseJsonl('{"a":1}\n\n{oops\n{"b":2}\n')
  t.same(parsed.map((l) => l.line), [1, 3, 4])
  t.match(parsed[1]!.error, /not valid JSON/)
  const r = validateControlSet(parsed)
  t.ok(r.issues.some((i) => i.line === 3 && /not valid JSON/.test(i.message)))
})

t.test('every explanation names a wrong option as its prior-knowledge distractor', async (t) => {
  const options = ['25', '28', '11', '31']
  const pk = (explanation: string) => priorKnowledgeDistractors({ options, answer_index: 0, explanation })
  t.same(pk("4·7 + 4 − 7 = 25. '28' is the plain product (prior knowledge); '31' forgets b."), ['28'])
  t.same(pk("'28' is the plain product (prior knowledge), '11' too (prior knowledge)."), ['28', '11'])
  t.same(pk("'25' is right (prior knowledge)."), [], 'the correct option is not a distractor')
  t.same(pk("'28' is the plain product; '31' is the usual guess (prior knowledge)."), ['31'], 'the quote must be in the marker’s clause')
  t.same(pk("'28' is a slip. '31' is the usual guess (prior knowledge)."), ['31'], 'or its sentence')
  t.same(pk("'28' is the plain product (prior)."), [], 'only the canonical marker counts')
  t.same(pk("'28' is a slip (prior knowledgeable)."), [], 'the marker closes its clause')
  t.same(pk('no quotes (prior knowledge).'), [])

  const unnamed = (id: string) => item(id, [0, 1, 2, 3, 0].map((a, n) => q(n, a, { explanation: 'all slips.' })))
  const set = [unnamed('a'), balanced('b'), balanced('c'), balanced('d')]
  const shipped = validateNewsSet(lines(set), { shipped: true })
  const at = shipped.issues.filter((i) => i.path.endsWith('/explanation'))
  t.equal(at.length, 5, 'one error per question of the shipped set')
  t.ok(at.every((i) => i.line === 1 && i.severity === 'error' && /prior-knowledge distractor/.test(i.message)))
  const user = validateNewsSet(lines(set))
  t.same(user.issues.filter((i) => /prior-knowledge/.test(i.message)).map((i) => [i.severity, i.path, i.message.split(' explanations')[0]]),
    [['warning', 'prior_knowledge', '5 of 20']], 'a user set gets one line for the whole set')
})
