// `sys2ft audit no-news`: the dataset check of FORMAT.md's rule that a good model should sit near
// chance without the news. Every question of a set is asked with no news in context (a `base` eval
// run through the evaluation service, letter rule after the answer prefix); the questions the model
// answers right *and* confidently — probability over the four letters above the threshold — are
// listed as suspects: answerable from prior knowledge, to be reviewed and rewritten.
import { EvalRunsApi, NewsSetsApi, type EvalResult } from './api.ts'

export interface AuditOptions {
  set: string
  model: string
  threshold: number
  domains?: string[]
  json?: boolean
  generationUrl: string
  url: string
  key?: string
}

export interface Suspect {
  question_key: string
  domain: string | null
  type: string
  p: number
}

/**
 * The probability the model puts on its letter pick, renormalised over the four letters. The letters'
 * log-probabilities are in the order the options were shown (A, B, …), the pick is an option index:
 * its letter is where `option_order` shows that option.
 */
export function letterConfidence(row: Pick<EvalResult, 'option_order' | 'scores'>): number {
  const logprobs = row.scores.letter.logprob
  const shownAt = row.option_order.indexOf(row.scores.picks.letter)
  if (shownAt < 0 || shownAt >= logprobs.length) throw new Error(`pick ${row.scores.picks.letter} is not in option_order ${JSON.stringify(row.option_order)}`)
  const max = Math.max(...logprobs)
  const z = logprobs.reduce((s, x) => s + Math.exp(x - max), 0)
  return Math.exp(logprobs[shownAt]! - max) / z
}

export async function auditNoNews(o: AuditOptions): Promise<number> {
  const set = await new NewsSetsApi(o.generationUrl, o.key).resolve(o.set)
  const runs = new EvalRunsApi(o.url, o.key)
  const run = await runs.create({ model: o.model, set_id: set.id, mode: 'base', options: { primary: 'letter' }, ...(o.domains && { filter: { domains: o.domains } }) })
  console.error(`audit of ${set.name} with ${o.model}, no news: eval run ${run.id}`)
  let last = ''
  for (;;) {
    const r = await runs.get(run.id)
    const line = `${r.state} ${r.progress.done}/${r.progress.total}`
    if (line !== last) console.error(`  ${line}`)
    last = line
    if (r.state === 'failed' || r.state === 'cancelled') throw new Error(`eval run ${run.id} ${r.state}: ${r.error ?? ''}`)
    if (r.state === 'succeeded') break
    await new Promise((res) => setTimeout(res, 5000))
  }
  const suspects: Suspect[] = []
  let n = 0
  let right = 0
  for await (const row of runs.results(run.id)) {
    n += 1
    if (!row.scores.correct_by.letter) continue
    right += 1
    const p = letterConfidence(row)
    if (p > o.threshold) suspects.push({ question_key: row.question_key, domain: row.domain, type: row.type, p })
  }
  suspects.sort((a, b) => b.p - a.p)
  if (o.json) console.log(JSON.stringify({ set: set.name, model: o.model, eval_run_id: run.id, questions: n, correct: right, threshold: o.threshold, suspects }, null, 2))
  else {
    console.log(`${set.name}, ${o.model}, no news: ${right}/${n} right (${((100 * right) / Math.max(1, n)).toFixed(1)}%); ${suspects.length} right with p > ${o.threshold} (suspects: answerable without the news?)`)
    for (const s of suspects) console.log(`  ${s.question_key.padEnd(22)} ${s.type.padEnd(11)} p = ${s.p.toFixed(3)}`)
  }
  return 0
}
