import type { AnyQuestion } from './schema.ts'

/**
 * FORMAT.md: at least one distractor is what a model would answer without the news, and the
 * explanation says which, as `'<option>' … (prior knowledge)` in one clause. Naming it is what lets a
 * reviewer (and the no-news audit) check that the question needs the news: a question whose
 * distractors are all slips can be answered by elimination from everyday knowledge.
 */
const MARKER = '(prior knowledge)'
const norm = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ')

/**
 * The wrong options an explanation marks as the prior-knowledge answer: the option quoted exactly,
 * then the marker later in the same clause (no ';' or sentence end between them, whatever the option
 * itself holds), the marker ending its clause.
 */
export function priorKnowledgeDistractors(q: Pick<AnyQuestion, 'options' | 'answer_index' | 'explanation'>): string[] {
  const text = norm(q.explanation ?? '')
  return q.options.filter((o, i) => {
    if (i === q.answer_index) return false
    const quoted = `'${norm(o)}'`
    for (let at = text.indexOf(quoted); at >= 0; at = text.indexOf(quoted, at + 1)) {
      const after = at + quoted.length
      const marker = text.indexOf(MARKER, after)
      if (marker < 0) return false
      const between = text.slice(after, marker)
      const end = marker + MARKER.length
      const closes = end === text.length || /^[;.,)\s]/.test(text.slice(end))
      if (closes && !between.includes(';') && !between.includes('. ')) return true
    }
    return false
  })
}

export const PRIOR_KNOWLEDGE_RULE = `names no wrong option as its prior-knowledge distractor ("'<option>' is … ${MARKER}")`
