/**
 * Which option a free-form answer chose. Models answer in many shapes ("The answer is (C).",
 * "**C**", "Answer: b", a reasoning that names several letters before the last line), and English
 * is full of letters that are not answers ("a" and "A" are articles, "C++" is a language). The rules,
 * strongest first:
 *  1. an explicit marker ("answer is", "Answer:", "the answer is: D", "correct option is", \boxed{…}): the last one wins,
 *     since a reasoning model states its final choice last;
 *  2. the whole answer is one letter ("C", "(c)", "B.") or starts with one followed by punctuation
 *     ("A. 24", "D) -2") and labels no other option that way;
 *  3. "option/choice X", bold "**X**", and finally any stand-alone capital letter, but only when
 *     exactly one distinct letter is named (naming several is ambiguous, so nothing is chosen);
 *  4. the whole answer is exactly one option's text.
 * A lowercase letter counts only where it cannot be an article: right after a marker and followed
 * by punctuation or the end, or as the whole answer.
 */
import { LETTERS } from '@sys2ft/dataset'

export type ParseRule = 'marker' | 'letter' | 'leading' | 'option_word' | 'bold' | 'lone' | 'text'
export interface ParsedAnswer {
  /** Index into the options as shown to the model, or null when no choice can be read. */
  index: number | null
  rule: ParseRule | null
}

const none: ParsedAnswer = { index: null, rule: null }

export function extractChoice(answer: string, options: readonly string[]): ParsedAnswer {
  const n = options.length
  const range = `A-${LETTERS[n - 1]}`
  const lower = range.toLowerCase()
  const text = answer.replace(/[\u200b-\u200d\ufeff]/g, '').replace(/\r/g, '').trim()
  const toIndex = (letter: string) => LETTERS.indexOf(letter.toUpperCase())
  // a letter not followed by a word: "a)" "b." "c" at the end — never the article in "a bit"
  const endsCleanly = (rest: string) => /^\s*(?:[).:\]*_,;!]|$|\n)/.test(rest)

  // 1. explicit markers, the last one wins
  const marker = new RegExp(
    String.raw`(?:\\boxed\{\s*[(\[]?([${range}${lower}])[)\]]?\s*\})|(?:(?:final\s+answer|answer|correct\s+(?:option|choice))\s*(?:(?:is|would\s+be|will\s+be|should\s+be)\s*)?(?:[:=\-]\s*)?(?:option\s+|choice\s+|letter\s+)?[*_\s]*[(\[]?\s*([${range}${lower}])(?![A-Za-z0-9+#'’]))`,
    'gi',
  )
  let last: string | null = null
  for (const m of text.matchAll(marker)) {
    const letter = m[1] ?? m[2]!
    const rest = text.slice(m.index! + m[0].length)
    if (letter === letter.toLowerCase() && !m[1] && !endsCleanly(rest)) continue
    last = letter
  }
  if (last) return { index: toIndex(last), rule: 'marker' }

  // 2. the whole answer is one letter, or it opens with one and punctuation
  const whole = text.replace(/^[*_\s"'`]+|[*_\s"'`.!]+$/g, '')
  const only = new RegExp(`^[(\\[]?([${range}${lower}])[)\\]]?$`).exec(whole)
  if (only) return { index: toIndex(only[1]!), rule: 'letter' }
  // only when no other option is labelled the same way: "A) 24 is wrong. C) 16 is right." walks
  // through the options, and its first letter is no choice
  const leading = new RegExp(`^[*_\\s]*[(\\[]?([${range}])(?:[).:\\]]|\\s*\\n)`).exec(text)
  const labelled = new Set([...text.matchAll(new RegExp(`(?<![A-Za-z0-9'’])[(\\[]?([${range}])[).:\\]](?=\\s|$)`, 'g'))].map((m) => m[1]!))
  if (leading && labelled.size <= 1) return { index: toIndex(leading[1]!), rule: 'leading' }

  // 3. weaker signals: usable only when they name one letter
  const unique = (re: RegExp, group = 1): string | null => {
    const found = new Set<string>()
    for (const m of text.matchAll(re)) if (m[group]) found.add(m[group]!.toUpperCase())
    return found.size === 1 ? [...found][0]! : null
  }
  const word = unique(new RegExp(`\\b(?:option|choice)\\s*[(\\[]?([${range}])(?![A-Za-z0-9+#'’])`, 'gi'))
  if (word) return { index: toIndex(word), rule: 'option_word' }
  const bold = unique(new RegExp(`\\*\\*\\s*[(\\[]?([${range}])[)\\].:]?\\s*\\*\\*`, 'g'))
  if (bold) return { index: toIndex(bold), rule: 'bold' }
  const lone = new Set<string>()
  for (const m of text.matchAll(new RegExp(`(?<![A-Za-z0-9'’\\-])[(\\[]?([${range}])[)\\]]?(?![A-Za-z0-9'’+#\\-])`, 'g'))) {
    const before = text.slice(0, m.index!)
    const after = text.slice(m.index! + m[0].length)
    // "A kite product is…": the article at the start of a sentence, not a choice
    if (m[1] === 'A' && /(?:^|[.!?:]\s+|\n\s*)$/.test(before) && /^\s+[a-z]/.test(after)) continue
    lone.add(m[1]!)
  }
  if (lone.size === 1) return { index: toIndex([...lone][0]!), rule: 'lone' }
  if (lone.size > 1) return none

  // 4. the answer is an option's text, word for word
  const norm = (s: string) => s.trim().replace(/[.\s]+$/, '').toLowerCase()
  const hits = options.map((o, i) => (norm(o) === norm(whole) ? i : -1)).filter((i) => i >= 0)
  if (hits.length === 1) return { index: hits[0]!, rule: 'text' }
  return none
}
