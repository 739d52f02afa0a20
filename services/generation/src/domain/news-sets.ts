import { createHash } from 'node:crypto'
import type { Kysely, Transaction } from 'kysely'
import type { Database, NewNewsItem, NewQuestion, NewsSetKind, NewsSetRow, QuestionRow, NewsItemRow } from '@sys2ft/db'
import { MAX_ERROR_LINES, errorsOf, loadBuiltin, validateControlSetSliced, validateNewsSetSliced, type ControlQuestion, type Issue, type JsonlLine, type NewsItem } from '@sys2ft/dataset'
import { ProblemError, conflict, newId, notFound, isId } from '@sys2ft/service-kit'
import { TimeSlicer } from '@sys2ft/service-kit/slices'

export const BUILTIN_NEWS = 'new-news'
export const BUILTIN_CONTROL = 'general-control'
const BATCH = 1000

export interface ImportInput {
  name: string
  description: string
  kind: NewsSetKind
  version: string
  lines: JsonlLine[]
  builtin?: boolean
  /** Where a line's issues point: `/items/<i>` for a JSON body, nothing for JSONL (the line number says it). */
  pathPrefix?: (line: number) => string
}

export interface ImportOutcome {
  set: NewsSetRow & { domains: Record<string, number> }
  warnings: Issue[]
}

/** sha256 of JSON.stringify(values), hashed a value at a time (the same digest; a 10,000-item set is ~35 MB of JSON). */
async function sha256Sliced(values: unknown[], slicer: TimeSlicer): Promise<string> {
  const hash = createHash('sha256').update('[')
  for (let i = 0; i < values.length; i++) {
    hash.update(`${i > 0 ? ',' : ''}${JSON.stringify(values[i]) ?? 'null'}`)
    await slicer.tick()
  }
  return hash.update(']').digest('hex')
}

async function insertBatched<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) await insert(rows.slice(i, i + BATCH))
}

/**
 * Validates a whole set and stores it in one transaction, in batched multi-row inserts. Any error
 * (a bad line, a bad field) stores nothing and is answered 400 naming each line and field.
 */
export async function importSet(db: Kysely<Database>, input: ImportInput): Promise<ImportOutcome> {
  // the CPU-heavy parts (validation, building the rows, the content hash) run in time slices: the
  // other services in the same process keep answering during a 10,000-item import
  const report = input.kind === 'news' ? await validateNewsSetSliced(input.lines, { shipped: false }) : await validateControlSetSliced(input.lines, { shipped: false })
  const slicer = new TimeSlicer()
  const errors = errorsOf(report.issues)
  if (errors.length > 0) {
    const shown = errors.slice(0, 200).map((e) => ({ path: `${e.line !== undefined && input.pathPrefix ? input.pathPrefix(e.line) : ''}${e.path}`, message: e.message, ...(e.line !== undefined ? { line: e.line } : {}) }))
    const badLines = [...new Set(errors.map((e) => e.line).filter((l) => l !== undefined))]
    const stopped = errors.some((e) => e.message.startsWith('validation stopped'))
    throw new ProblemError(400, 'validation_failed', `the set has ${errors.length} error(s) on ${badLines.length} line(s) (${badLines.slice(0, 20).join(', ')}${badLines.length > 20 ? ', …' : ''})${stopped ? `; validation stopped after ${MAX_ERROR_LINES} bad lines` : ''}; nothing was stored`, shown)
  }
  const setId = newId('ns')
  const items: NewNewsItem[] = []
  const questions: NewQuestion[] = []
  let domains: Record<string, number> = {}
  if (input.kind === 'news') {
    for (const [i, item] of (report.valid as NewsItem[]).entries()) {
      const itemId = newId('ni')
      items.push({ id: itemId, set_id: setId, key: item.id, position: i, domain: item.domain, title: item.title, date: item.date, text: item.text, check: item.check ? JSON.stringify(item.check) : null })
      domains[item.domain] = (domains[item.domain] ?? 0) + 1
      item.questions.forEach((q, j) => questions.push({ id: newId('q'), set_id: setId, item_id: itemId, key: q.id, position: j, type: q.type, subject: null, question: q.question, options: JSON.stringify(q.options), answer_index: q.answer_index, answer_text: q.answer_text, explanation: q.explanation, check: q.check ? JSON.stringify(q.check) : null }))
      await slicer.tick()
    }
  } else {
    for (const [i, q] of (report.valid as ControlQuestion[]).entries()) {
      questions.push({ id: newId('q'), set_id: setId, item_id: null, key: q.id, position: i, type: q.type, subject: q.subject, question: q.question, options: JSON.stringify(q.options), answer_index: q.answer_index, answer_text: q.answer_text, explanation: q.explanation, check: null })
      domains[q.subject] = (domains[q.subject] ?? 0) + 1
      await slicer.tick()
    }
  }
  const contentSha256 = await sha256Sliced(report.valid, slicer)
  domains = Object.fromEntries(Object.entries(domains).sort())
  const set = await db.transaction().execute(async (trx) => {
    const taken = await trx.selectFrom('news_sets').select('id').where('name', '=', input.name).executeTakeFirst()
    if (taken) throw conflict(`a news set named ${input.name} exists already (${taken.id})`)
    const row = await trx
      .insertInto('news_sets')
      .values({ id: setId, name: input.name, description: input.description, kind: input.kind, version: input.version, builtin: input.builtin ?? false, item_count: items.length, question_count: questions.length, content_sha256: contentSha256 })
      .returningAll()
      .executeTakeFirstOrThrow()
    await insertBatched(items, (chunk) => trx.insertInto('news_items').values(chunk).execute())
    await insertBatched(questions, (chunk) => trx.insertInto('questions').values(chunk).execute())
    return row
  }).catch((err: unknown) => {
    // two imports of one name racing: the unique index decides, the loser is told so
    if ((err as { code?: string }).code === '23505') throw conflict(`a news set named ${input.name} exists already`)
    throw err
  })
  return { set: { ...set, domains }, warnings: report.issues.filter((i) => i.severity === 'warning') }
}

export async function domainCounts(db: Kysely<Database> | Transaction<Database>, set: NewsSetRow): Promise<Record<string, number>> {
  const rows =
    set.kind === 'news'
      ? await db.selectFrom('news_items').select(['domain as k', (eb) => eb.fn.countAll<number>().as('n')]).where('set_id', '=', set.id).groupBy('domain').orderBy('domain').execute()
      : await db.selectFrom('questions').select(['subject as k', (eb) => eb.fn.countAll<number>().as('n')]).where('set_id', '=', set.id).groupBy('subject').orderBy('subject').execute()
  return Object.fromEntries(rows.map((r) => [String(r.k), Number(r.n)]))
}

export async function getSet(db: Kysely<Database>, id: string): Promise<NewsSetRow> {
  const row = isId('ns', id) ? await db.selectFrom('news_sets').selectAll().where('id', '=', id).executeTakeFirst() : undefined
  if (!row) throw notFound('news set', id)
  return row
}

export async function listSets(db: Kysely<Database>, q: { limit: number; after?: string | undefined; kind?: NewsSetKind | undefined; builtin?: boolean | undefined }): Promise<NewsSetRow[]> {
  let query = db.selectFrom('news_sets').selectAll().orderBy('id').limit(q.limit + 1)
  if (q.after) query = query.where('id', '>', q.after)
  if (q.kind) query = query.where('kind', '=', q.kind)
  if (q.builtin !== undefined) query = query.where('builtin', '=', q.builtin)
  return query.execute()
}

type ItemWithQuestions = NewsItem

function questionOut(q: QuestionRow) {
  return { id: q.key, type: q.type, question: q.question, options: q.options, answer_index: q.answer_index, answer_text: q.answer_text, explanation: q.explanation, ...(q.check ? { check: q.check } : {}) }
}

async function withQuestions(db: Kysely<Database>, items: NewsItemRow[]): Promise<ItemWithQuestions[]> {
  if (items.length === 0) return []
  const qs = await db.selectFrom('questions').selectAll().where('item_id', 'in', items.map((i) => i.id)).orderBy('item_id').orderBy('position').execute()
  const byItem = new Map<string, QuestionRow[]>()
  for (const q of qs) byItem.set(q.item_id!, [...(byItem.get(q.item_id!) ?? []), q])
  return items.map((i) => ({
    id: i.key, domain: i.domain, title: i.title, date: i.date, text: i.text,
    ...(i.check ? { check: i.check } : {}),
    questions: (byItem.get(i.id) ?? []).map(questionOut) as NewsItem['questions'],
  }))
}

/** A page of a news set's items (with questions), ordered as imported. */
export async function listItems(db: Kysely<Database>, set: NewsSetRow, q: { limit: number; after?: string | undefined; domain?: string | undefined }) {
  let query = db.selectFrom('news_items').selectAll().where('set_id', '=', set.id).orderBy('position').limit(q.limit + 1)
  if (q.domain) query = query.where('domain', '=', q.domain as NewsItem['domain'])
  if (q.after) {
    const cursor = await db.selectFrom('news_items').select('position').where('set_id', '=', set.id).where('key', '=', q.after).executeTakeFirst()
    if (cursor) query = query.where('position', '>', cursor.position)
  }
  const rows = await query.execute()
  const has_more = rows.length > q.limit
  const page = rows.slice(0, q.limit)
  return { data: await withQuestions(db, page), has_more, next_cursor: has_more ? page[page.length - 1]!.key : null }
}

/** Streams a set as JSONL lines in the import format, a batch of items at a time (memory stays flat). */
export async function* exportSet(db: Kysely<Database>, set: NewsSetRow): AsyncGenerator<string> {
  let after = -1
  for (;;) {
    if (set.kind === 'control') {
      const qs = await db.selectFrom('questions').selectAll().where('set_id', '=', set.id).where('position', '>', after).orderBy('position').limit(500).execute()
      if (qs.length === 0) return
      for (const q of qs) {
        const { id, type, question, options, answer_index, answer_text, explanation } = questionOut(q)
        yield `${JSON.stringify({ id, subject: q.subject, type, question, options, answer_index, answer_text, explanation })}\n`
      }
      after = qs[qs.length - 1]!.position
    } else {
      const rows = await db.selectFrom('news_items').selectAll().where('set_id', '=', set.id).where('position', '>', after).orderBy('position').limit(200).execute()
      if (rows.length === 0) return
      for (const item of await withQuestions(db, rows)) yield `${JSON.stringify(item)}\n`
      after = rows[rows.length - 1]!.position
    }
  }
}

/** Deletes a user set; shipped sets are read-only, and a set that a generation or evaluation run uses stays. */
export async function deleteSet(db: Kysely<Database>, id: string): Promise<void> {
  const set = await getSet(db, id)
  if (set.builtin) throw new ProblemError(409, 'read_only', `news set ${set.name} ships with the product and is read-only`)
  const user = (await db.selectFrom('generation_runs').select('id').where('set_id', '=', id).limit(1).executeTakeFirst()) ?? (await db.selectFrom('eval_runs').select('id').where('set_id', '=', id).limit(1).executeTakeFirst())
  if (user) throw new ProblemError(409, 'in_use', `news set ${set.name} is used by ${user.id}; delete that first`)
  await db.deleteFrom('news_sets').where('id', '=', id).execute()
}

/**
 * Loads the shipped New News set and the control set once per dataset version (names carry the
 * version). Safe to run from several processes at once: the unique name decides.
 */
export async function seedBuiltinSets(db: Kysely<Database>): Promise<{ created: string[] }> {
  const data = loadBuiltin()
  const created: string[] = []
  const wanted = [
    { name: `${BUILTIN_NEWS}-${data.version}`, kind: 'news' as const, values: data.news as unknown[], description: 'The New News dataset shipped with sys2ft: hypothetical news in five domains, five questions each.' },
    { name: `${BUILTIN_CONTROL}-${data.version}`, kind: 'control' as const, values: data.control as unknown[], description: 'General-knowledge control questions, to detect forgetting after fine-tuning.' },
  ]
  for (const w of wanted) {
    const exists = await db.selectFrom('news_sets').select('id').where('name', '=', w.name).executeTakeFirst()
    if (exists) continue
    try {
      await importSet(db, { name: w.name, description: w.description, kind: w.kind, version: data.version, builtin: true, lines: w.values.map((value, i) => ({ line: i + 1, value })) })
      created.push(w.name)
    } catch (err) {
      if (err instanceof ProblemError && err.code === 'conflict') continue // another process seeded it first
      throw err
    }
  }
  return { created }
}

export function setOut(set: NewsSetRow, domains: Record<string, number>) {
  return {
    id: set.id, object: 'news_set' as const, name: set.name, description: set.description, kind: set.kind, version: set.version, builtin: set.builtin,
    item_count: set.item_count, question_count: set.question_count, content_sha256: set.content_sha256, domains,
    created_at: set.created_at.toISOString(), updated_at: set.updated_at.toISOString(),
  }
}
