import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database, NewsSetRow } from '@sys2ft/db'
import type { FieldError } from '@sys2ft/service-kit'
import type { FilterT } from '../schemas/eval-runs.ts'

/** A question as a run asks it (the news and questions tables belong to the generation service; read only). */
export interface RunQuestion {
  id: string
  key: string
  type: string
  question: string
  options: string[]
  answer_index: number
  /** The news item's domain; a control question's subject. */
  domain: string | null
  news: { title: string; date: string; text: string } | null
}

/** The questions of a set that a filter selects, in the set's order (news item, then question). */
export async function selectQuestions(db: Kysely<Database>, setId: string, filter: FilterT): Promise<RunQuestion[]> {
  let q = db
    .selectFrom('questions as q')
    .leftJoin('news_items as i', 'i.id', 'q.item_id')
    .select(['q.id', 'q.key', 'q.type', 'q.question', 'q.options', 'q.answer_index', 'q.subject', 'i.domain', 'i.title', 'i.date', 'i.text'])
    .where('q.set_id', '=', setId)
  if (filter.domains) q = q.where('i.domain', 'in', filter.domains)
  if (filter.item_keys) q = q.where('i.key', 'in', filter.item_keys)
  if (filter.question_types) q = q.where('q.type', 'in', filter.question_types)
  if (filter.question_keys) q = q.where('q.key', 'in', filter.question_keys)
  if (filter.subjects) q = q.where('q.subject', 'in', filter.subjects)
  const rows = await q.orderBy('i.position').orderBy('q.position').execute()
  return rows.map((r) => ({
    id: r.id,
    key: r.key,
    type: r.type,
    question: r.question,
    options: r.options,
    answer_index: r.answer_index,
    domain: r.domain ?? r.subject,
    news: r.title !== null && r.date !== null && r.text !== null ? { title: r.title, date: r.date, text: r.text } : null,
  }))
}

/**
 * Checks a filter against its set before anything is stored: fields that do not apply to the set's
 * kind, and keys that do not exist (a typo would otherwise silently shrink the run).
 */
export async function filterErrors(db: Kysely<Database>, set: NewsSetRow, filter: FilterT): Promise<FieldError[]> {
  const errors: FieldError[] = []
  if (set.kind === 'control') {
    if (filter.domains) errors.push({ path: '/filter/domains', message: 'a control set has no news domains; filter by subjects' })
    if (filter.item_keys) errors.push({ path: '/filter/item_keys', message: 'a control set has no news items' })
  } else if (filter.subjects) {
    errors.push({ path: '/filter/subjects', message: 'subjects apply to control sets only' })
  }
  const missing = async (path: string, keys: string[] | undefined, table: 'news_items' | 'questions') => {
    if (!keys || errors.some((e) => e.path === path)) return
    const found = new Set((await db.selectFrom(table).select('key').where('set_id', '=', set.id).where('key', 'in', keys).execute()).map((r) => r.key))
    const unknown = keys.filter((k) => !found.has(k))
    if (unknown.length) errors.push({ path, message: `not in set ${set.name}: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}` })
  }
  await missing('/filter/item_keys', filter.item_keys, 'news_items')
  await missing('/filter/question_keys', filter.question_keys, 'questions')
  if (filter.subjects && set.kind === 'control') {
    const found = new Set((await db.selectFrom('questions').select('subject').distinct().where('set_id', '=', set.id).execute()).map((r) => r.subject))
    const unknown = filter.subjects.filter((s) => !found.has(s))
    if (unknown.length) errors.push({ path: '/filter/subjects', message: `not in set ${set.name}: ${unknown.join(', ')}` })
  }
  return errors
}

/** Identifies exactly which questions a run asks (recorded in provenance). */
export const questionIdsSha256 = (qs: RunQuestion[]) => createHash('sha256').update(qs.map((q) => q.id).join('\n')).digest('hex')
