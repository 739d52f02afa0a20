import type { Kysely } from 'kysely'
import type { Database, NewsSetRow } from '@sys2ft/db'
import { lmEvalExport, type LmEvalExportOptions, type LmEvalQuestion } from '@sys2ft/dataset'
import { invalid } from '@sys2ft/service-kit'

/** A set's questions in its order (news item, then question), with their news, for the lm-eval export. */
async function setQuestions(db: Kysely<Database>, set: NewsSetRow): Promise<LmEvalQuestion[]> {
  const rows = await db
    .selectFrom('questions as q')
    .leftJoin('news_items as i', 'i.id', 'q.item_id')
    .select(['q.id', 'q.key', 'q.type', 'q.question', 'q.options', 'q.answer_index', 'q.subject', 'i.domain', 'i.title', 'i.date', 'i.text'])
    .where('q.set_id', '=', set.id)
    .orderBy('i.position')
    .orderBy('q.position')
    .execute()
  return rows.map((r) => ({
    id: r.id, key: r.key, type: r.type, question: r.question, options: r.options, answer_index: r.answer_index, domain: r.domain ?? r.subject,
    news: r.title !== null && r.date !== null && r.text !== null ? { title: r.title, date: r.date, text: r.text } : null,
  }))
}

/** The lm-eval tasks of a set, with the command line that runs them (see @sys2ft/dataset's lm-eval.ts). */
export async function exportLmEval(db: Kysely<Database>, set: NewsSetRow, opts: Omit<LmEvalExportOptions, 'setName'>) {
  if (set.kind === 'control' && opts.modes.includes('icl')) throw invalid([{ path: '/querystring/modes', message: `${set.name} is a control set: it has no news to put in context; use modes=base` }])
  const questions = await setQuestions(db, set)
  const { tasks, files } = lmEvalExport(questions, { ...opts, setName: set.name })
  const command = [
    'lm_eval --model hf --model_args pretrained=<model dir>,dtype=float32',
    `--tasks ${tasks.map((t) => t.name).join(',')} --include_path ${opts.dir ?? '.'}`,
    '--apply_chat_template --log_samples --output_path lm-eval-out --batch_size 8',
  ].join(' ')
  return { object: 'lm_eval_export' as const, set: { id: set.id, name: set.name, content_sha256: set.content_sha256 }, questions: questions.length, tasks, files, command }
}
