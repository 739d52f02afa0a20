// Strict parsing of model outputs. Every rejected output gets one reason from REJECT_REASONS, counted
// per run; raw outputs are kept for inspection either way.

export const REJECT_REASONS = ['empty', 'truncated', 'malformed', 'duplicate', 'copies_news', 'non_answer', 'unverified'] as const
export type RejectReason = (typeof REJECT_REASONS)[number]

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: RejectReason }

/** Lower case, letters and digits only, single spaces: the key for duplicate detection. */
export function normalise(text: string): string {
  return text.toLowerCase().normalize('NFKD').replace(/[^\p{L}\p{N}]+/gu, ' ').trim()
}

function shingles(words: string[], n: number): Set<string> {
  const out = new Set<string>()
  for (let i = 0; i + n <= words.length; i++) out.add(words.slice(i, i + n).join(' '))
  return out
}

/**
 * Whether `text` is mostly a copy of the news: the share of its word 6-grams found verbatim in the
 * news. A paraphrase must reword; a question may quote a name but not whole sentences.
 */
export function copiedShare(text: string, news: string, n = 6): number {
  const t = shingles(normalise(text).split(' '), n)
  if (t.size === 0) return normalise(text) === normalise(news) ? 1 : 0
  const src = shingles(normalise(news).split(' '), n)
  let hit = 0
  for (const s of t) if (src.has(s)) hit += 1
  return hit / t.size
}

const COPY_THRESHOLD = 0.6

/** A free text sample (paraphrase, implication): non-empty, complete, long enough, not a copy. */
export function parseFreeText(text: string, finish: string, news: string, minWords = 12): Parsed<string> {
  const clean = text.trim()
  if (clean === '') return { ok: false, reason: 'empty' }
  if (finish === 'length') return { ok: false, reason: 'truncated' }
  if (clean.split(/\s+/).length < minWords) return { ok: false, reason: 'malformed' }
  if (copiedShare(clean, news) >= COPY_THRESHOLD) return { ok: false, reason: 'copies_news' }
  return { ok: true, value: clean }
}

/** Why an output yielded nothing to read (no list, no questions): empty, cut off, or not in the asked form. */
export const unreadable = (text: string, finish: string): RejectReason => (text.trim() === '' ? 'empty' : finish === 'length' ? 'truncated' : 'malformed')

export interface QuestionCandidate {
  text: string
  parsed: Parsed<string>
}

/**
 * Numbered questions, one per line ("1. …?", "2) …?"). A line without a question mark is malformed;
 * when the output was cut off, its last question is dropped as truncated.
 */
export function parseQuestions(text: string, finish: string, news: string): QuestionCandidate[] {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean)
  const numbered = lines.map((l) => /^(?:\d{1,3}\s*[.):-]|[-*•]|Q\d{1,3}[.:)])\s*(.+)$/i.exec(l)?.[1]?.trim()).filter((q): q is string => !!q)
  // every output leaves at least one candidate, so every completion is accounted for
  if (numbered.length === 0) return [{ text: text.trim(), parsed: { ok: false, reason: unreadable(text, finish) } }]
  return numbered.map((q, i) => {
    const last = i === numbered.length - 1
    if (last && finish === 'length') return { text: q, parsed: { ok: false, reason: 'truncated' } }
    const mark = q.lastIndexOf('?')
    if (mark < 0) return { text: q, parsed: { ok: false, reason: 'malformed' } }
    const question = q.slice(0, mark + 1).replace(/^\*\*|\*\*$/g, '').trim()
    if (question.split(/\s+/).length < 3) return { text: q, parsed: { ok: false, reason: 'malformed' } }
    if (copiedShare(question, news) >= COPY_THRESHOLD) return { text: q, parsed: { ok: false, reason: 'copies_news' } }
    return { text: q, parsed: { ok: true, value: question } }
  })
}

const NON_ANSWERS = [/^i (?:do not|don't|cannot|can't) (?:know|answer|determine)/i, /not (?:mentioned|stated|provided|specified) in the news/i, /^as an ai\b/i]

/**
 * An answer to a self-made question: non-empty, complete, an answer rather than a refusal, and not
 * the news pasted back. An answer may quote the news (a definition, a name), so the check is the
 * other way round from a paraphrase's: how much of the news's text the answer carries verbatim.
 */
export function parseAnswer(text: string, finish: string, news: string): Parsed<string> {
  const clean = text.trim()
  if (clean === '') return { ok: false, reason: 'empty' }
  if (finish === 'length') return { ok: false, reason: 'truncated' }
  if (NON_ANSWERS.some((r) => r.test(clean))) return { ok: false, reason: 'non_answer' }
  if (copiedShare(news, clean) >= COPY_THRESHOLD) return { ok: false, reason: 'copies_news' }
  return { ok: true, value: clean }
}

/**
 * A numbered or bulleted list, one entry per line (study strategies, entities): entries of at least
 * `minWords` words, duplicates dropped; when the output was cut off its last entry is dropped.
 */
export function parseList(text: string, finish: string, minWords = 1, max = 32): string[] {
  const entries = text
    .split('\n')
    .map((l) => /^(?:\d{1,3}\s*[.):-]|[-*•])\s*(.+)$/.exec(l.trim())?.[1]?.replace(/^\*\*|\*\*$/g, '').trim())
    .filter((e): e is string => !!e && e.split(/\s+/).length >= minWords)
  if (finish === 'length') entries.pop()
  const seen = new Set<string>()
  return entries.filter((e) => !seen.has(normalise(e)) && !!seen.add(normalise(e))).slice(0, max)
}

/** A judge's verdict on a generated pair: its first word, yes or no; anything else is no verdict. */
export function parseVerdict(text: string): 'consistent' | 'inconsistent' | null {
  const first = /^\W*(yes|no)\b/i.exec(text.trim())?.[1]?.toLowerCase()
  return first === 'yes' ? 'consistent' : first === 'no' ? 'inconsistent' : null
}

/**
 * The entities of a news item: a numbered or bulleted list, or — as small models often write it —
 * one comma- or semicolon-separated line; entries of 1 to 8 words, duplicates dropped, the last one
 * dropped when the output was cut off.
 */
export function parseEntities(text: string, finish: string, max = 12): string[] {
  const listed = parseList(text, finish, 1, max)
  const pieces = listed.length >= 2 ? listed : listed.length === 1 ? listed[0]!.split(/[,;]/) : text.split(/[,;\n]/)
  const entries = pieces.map((e) => e.replace(/^\s*(?:\d{1,3}\s*[.):-]|[-*•])?\s*/, '').replace(/^\*\*|\*\*$/g, '').trim()).filter((e) => e.length > 0)
  if (finish === 'length' && listed.length < 2) entries.pop()
  const seen = new Set<string>()
  return entries.filter((e) => e.split(/\s+/).length <= 8 && !seen.has(normalise(e)) && !!seen.add(normalise(e))).slice(0, max)
}
