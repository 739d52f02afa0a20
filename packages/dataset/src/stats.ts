import { DOMAINS, type ControlQuestion, type NewsItem } from './schema.ts'
import { positionStats } from './validate.ts'

export interface DomainStats {
  domain: string
  items: number
  questions: number
  recall: number
  implication: number
  checks: number
  mean_news_words: number
  mean_question_chars: number
  mean_option_chars: number
}

export interface DatasetStats {
  version: string
  domains: DomainStats[]
  total: DomainStats
  answer_positions: number[]
  longest_option_correct: number
  control: { questions: number; knowledge: number; reasoning: number; subjects: Record<string, number>; answer_positions: number[]; longest_option_correct: number }
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0)

function domainStats(domain: string, items: NewsItem[]): DomainStats {
  const qs = items.flatMap((i) => i.questions)
  return {
    domain,
    items: items.length,
    questions: qs.length,
    recall: qs.filter((q) => q.type === 'recall').length,
    implication: qs.filter((q) => q.type === 'implication').length,
    checks: qs.filter((q) => q.check).length,
    mean_news_words: mean(items.map((i) => i.text.trim().split(/\s+/).length)),
    mean_question_chars: mean(qs.map((q) => q.question.length)),
    mean_option_chars: mean(qs.flatMap((q) => q.options.map((o) => o.length))),
  }
}

export function computeStats(version: string, news: NewsItem[], control: ControlQuestion[]): DatasetStats {
  const all = news.flatMap((i) => i.questions)
  const p = positionStats(all)
  const c = positionStats(control)
  const subjects: Record<string, number> = {}
  for (const q of control) subjects[q.subject] = (subjects[q.subject] ?? 0) + 1
  return {
    version,
    domains: DOMAINS.map((d) => domainStats(d, news.filter((i) => i.domain === d))),
    total: domainStats('all', news),
    answer_positions: p.positions,
    longest_option_correct: p.longestCorrect,
    control: { questions: control.length, knowledge: control.filter((q) => q.type === 'knowledge').length, reasoning: control.filter((q) => q.type === 'reasoning').length, subjects, answer_positions: c.positions, longest_option_correct: c.longestCorrect },
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`

/** The statistics as a plain-text table. */
export function formatStats(s: DatasetStats): string {
  const head = ['domain', 'items', 'questions', 'recall', 'implication', 'checks', 'news words', 'question chars', 'option chars']
  const rows = [...s.domains, s.total].map((d) => [d.domain, d.items, d.questions, d.recall, d.implication, d.checks, d.mean_news_words.toFixed(1), d.mean_question_chars.toFixed(1), d.mean_option_chars.toFixed(1)].map(String))
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  return [
    `New News dataset ${s.version}`,
    fmt(head),
    ...rows.map(fmt),
    '',
    `answer positions (A B C D): ${s.answer_positions.map(pct).join(' ')}`,
    `correct option is the longest: ${pct(s.longest_option_correct)}`,
    '',
    `control set: ${s.control.questions} questions (${s.control.knowledge} knowledge, ${s.control.reasoning} reasoning), ${Object.keys(s.control.subjects).length} subjects`,
    `control answer positions (A B C D): ${s.control.answer_positions.map(pct).join(' ')}; longest correct: ${pct(s.control.longest_option_correct)}`,
  ].join('\n')
}
