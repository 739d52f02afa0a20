import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { DOMAINS, naiveConversation } from '@sys2ft/dataset'
import { ProblemError, isId, seededRandom, type FieldError } from '@sys2ft/service-kit'
import type { DistillTarget } from '@sys2ft/worker-client'
import type { DataSourceType, HyperparametersType } from '../schemas/training-jobs.ts'

export type Role = 'system' | 'user' | 'assistant'
export interface Example {
  messages: { role: Role; content: string }[]
  /** objective distill: the teacher's tokens and top-k log-probabilities for the last (assistant) turn. */
  distill?: DistillTarget
}
type Objective = HyperparametersType['objective']

export interface ResolvedSource {
  source: number
  kind: 'generation_run' | 'news_set'
  id: string
  available: number
  weight: number
  share: number
  count: number
  distill_targets?: number
}

export interface ResolvedData {
  examples: Example[]
  resolved: ResolvedSource[]
  sha256: string
}

/** The worker accepts at most this many examples in one training (protocol.py, TrainingRequest). */
export const MAX_EXAMPLES = 200_000

export const MIXING_RULE =
  'Each source’s share of the examples is its weight divided by the sum of the weights. The source with the most examples per unit of weight is used once; every other source is repeated whole, then topped up with a seeded sample without replacement, until its count matches its share. No example is dropped. A source with no examples (a run whose samples were all rejected) adds nothing and is left out of the shares.'

const ROLES = new Set<string>(['system', 'user', 'assistant'])

/** One accepted sample's conversation as the worker wants it (role and content only), or null if malformed. */
function toExample(messages: unknown): Example | null {
  if (!Array.isArray(messages) || messages.length === 0) return null
  const out: Example['messages'] = []
  for (const m of messages) {
    if (!m || typeof m !== 'object') return null
    const { role, content } = m as { role?: unknown; content?: unknown }
    if (typeof role !== 'string' || !ROLES.has(role) || typeof content !== 'string') return null
    out.push({ role: role as Role, content })
  }
  return out.some((m) => m.role === 'assistant') ? { messages: out } : null
}

/** A stored sample's targets, if they have the worker's shape (one top-k list per token). */
function targetsOf(distill: unknown): DistillTarget | null {
  const d = distill as Partial<DistillTarget> | null
  return d && Array.isArray(d.token_ids) && Array.isArray(d.top) && d.top.length === d.token_ids.length && Number.isInteger(d.k) ? (d as DistillTarget) : null
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
  return v
}

/**
 * sha256 of the examples' canonical JSON: sorted keys, no spaces, UTF-8, numbers as JSON.stringify
 * writes them — the worker's own rule (training.py, data_sha256; canonical.py writes floats the same
 * way), so the job's hash equals the adapter manifest's, distillation targets included.
 */
export function examplesSha256(examples: Example[]): string {
  const hash = createHash('sha256')
  hash.update('[')
  examples.forEach((e, i) => hash.update(`${i ? ',' : ''}${JSON.stringify(sortKeys(e))}`))
  hash.update(']')
  return hash.digest('hex')
}

/** How many examples each source contributes (MIXING_RULE): counts[i] ≥ available[i], shares ∝ weights. */
export function mixCounts(available: number[], weights: number[]): number[] {
  if (available.length === 1) return [available[0]!]
  const scale = Math.max(...available.map((n, i) => n / weights[i]!))
  return available.map((n, i) => Math.max(n, Math.round(scale * weights[i]!)))
}

/** `count` examples out of `items`: whole copies, then a seeded sample without replacement. */
export function takeCount<T>(items: T[], count: number, seed: number): T[] {
  const out: T[] = []
  const whole = Math.floor(count / items.length)
  for (let k = 0; k < whole; k++) out.push(...items)
  const rest = count - whole * items.length
  if (rest > 0) {
    const rand = seededRandom(seed)
    const idx = items.map((_, i) => i)
    for (let i = 0; i < rest; i++) {
      const j = i + Math.floor(rand() * (idx.length - i))
      ;[idx[i], idx[j]] = [idx[j]!, idx[i]!]
    }
    for (const i of idx.slice(0, rest).sort((a, b) => a - b)) out.push(items[i]!)
  }
  return out
}

type Loaded = { source: number; kind: 'generation_run' | 'news_set'; id: string; examples: Example[]; empty: FieldError | null; targets: number }

/**
 * Turns a job's data sources into the examples sent to the worker, checking everything a client can
 * get wrong. Every problem is collected and answered at once, each naming its field: 400, or 409
 * `run_not_finished` when the only trouble is a run that has not succeeded (yet). Deterministic for
 * the same sources and seed (the dispatcher resolves again and checks the hash).
 */
export async function resolveData(db: Kysely<Database>, sources: DataSourceType[], seed: number, objective: Objective = 'sft'): Promise<ResolvedData> {
  const errors: FieldError[] = []
  let unfinished = 0
  const seen = new Map<string, number>()
  sources.forEach((s, i) => {
    const at = `/data/${i}`
    if ((s.generation_run_id === undefined) === (s.news_set_id === undefined)) {
      errors.push({ path: at, message: 'give exactly one of generation_run_id and news_set_id' })
      return
    }
    if (s.generation_run_id !== undefined) {
      for (const f of ['domains', 'item_keys'] as const) if (s[f] !== undefined) errors.push({ path: `${at}/${f}`, message: 'is only for a news_set_id source' })
    }
    s.domains?.forEach((d, j) => {
      if (!(DOMAINS as readonly string[]).includes(d)) errors.push({ path: `${at}/domains/${j}`, message: `must be one of ${DOMAINS.join(', ')}` })
    })
    const key = s.generation_run_id ?? s.news_set_id!
    const field = s.generation_run_id !== undefined ? 'generation_run_id' : 'news_set_id'
    const first = seen.get(key)
    if (first !== undefined) errors.push({ path: `${at}/${field}`, message: `is listed twice (also /data/${first}); give one source a larger weight instead` })
    else seen.set(key, i)
  })

  const runIds = sources.map((s) => s.generation_run_id).filter((id): id is string => id !== undefined && isId('gen', id))
  const setIds = sources.map((s) => s.news_set_id).filter((id): id is string => id !== undefined && isId('ns', id))
  const runs = new Map(runIds.length ? (await db.selectFrom('generation_runs').select(['id', 'state']).where('id', 'in', runIds).execute()).map((r) => [r.id, r]) : [])
  const sets = new Map(setIds.length ? (await db.selectFrom('news_sets').select(['id', 'kind', 'name']).where('id', 'in', setIds).execute()).map((r) => [r.id, r]) : [])
  sources.forEach((s, i) => {
    if (s.generation_run_id !== undefined && s.news_set_id === undefined) {
      const run = runs.get(s.generation_run_id)
      if (!run) errors.push({ path: `/data/${i}/generation_run_id`, message: `no generation run ${s.generation_run_id}` })
      else if (run.state !== 'succeeded') {
        unfinished++
        errors.push({ path: `/data/${i}/generation_run_id`, message: `generation run ${run.id} is ${run.state}; only a succeeded run can be trained on` })
      }
    }
    if (s.news_set_id !== undefined && s.generation_run_id === undefined) {
      const set = sets.get(s.news_set_id)
      if (!set) errors.push({ path: `/data/${i}/news_set_id`, message: `no news set ${s.news_set_id}` })
      else if (set.kind !== 'news') errors.push({ path: `/data/${i}/news_set_id`, message: `news set ${set.name} is a ${set.kind} set: it has no news to train on` })
    }
  })
  // the sources that passed so far are loaded too, so one answer names every failing field
  const failed = new Set(errors.map((e) => Number(e.path.split('/')[2])))
  const loaded: Loaded[] = []
  for (const [i, s] of sources.entries()) {
    if (failed.has(i)) continue
    if (s.generation_run_id !== undefined) {
      const rows = await db.selectFrom('generation_samples').select(['messages', 'distill']).where('run_id', '=', s.generation_run_id).where('accepted', '=', true).orderBy('item_id').orderBy('sample_index').execute()
      // with sft a distillation run's samples train on the teacher's text, without its targets
      const examples = rows.map((r) => {
        const e = toExample(r.messages)
        const d = objective === 'distill' ? targetsOf(r.distill) : null
        return e && d ? { ...e, distill: d } : e
      })
      const bad = examples.filter((e) => e === null).length
      if (bad) errors.push({ path: `/data/${i}/generation_run_id`, message: `${bad} of the run’s accepted samples have no usable conversation (messages with roles system/user/assistant and an assistant turn)` })
      const empty = examples.length === 0 ? { path: `/data/${i}/generation_run_id`, message: `generation run ${s.generation_run_id} has no accepted samples: nothing to train on` } : null
      loaded.push({ source: i, kind: 'generation_run', id: s.generation_run_id, examples: examples as Example[], empty, targets: examples.filter((e) => e?.distill).length })
    } else {
      let q = db.selectFrom('news_items').select(['key', 'title', 'date', 'text']).where('set_id', '=', s.news_set_id!).orderBy('position')
      if (s.domains) q = q.where('domain', 'in', s.domains as (typeof DOMAINS)[number][])
      if (s.item_keys) q = q.where('key', 'in', s.item_keys)
      const items = await q.execute()
      if (s.item_keys) {
        const found = new Set(items.map((it) => it.key))
        const all = s.domains ? new Set((await db.selectFrom('news_items').select('key').where('set_id', '=', s.news_set_id!).where('key', 'in', s.item_keys).execute()).map((r) => r.key)) : found
        s.item_keys.forEach((k, j) => {
          if (!all.has(k)) errors.push({ path: `/data/${i}/item_keys/${j}`, message: `no item ${k} in the set` })
        })
      }
      const empty = items.length === 0 ? { path: `/data/${i}`, message: 'selects no news items: nothing to train on' } : null
      loaded.push({ source: i, kind: 'news_set', id: s.news_set_id!, examples: items.map((it) => ({ messages: naiveConversation(it) })), empty, targets: 0 })
    }
  }
  // A source with nothing in it (a run whose samples were all rejected) adds nothing to the mix; the
  // training set as a whole must not be empty.
  if (loaded.length > 0 && loaded.every((l) => l.empty)) errors.push(...loaded.map((l) => l.empty!))
  if (objective === 'distill' && errors.length === 0 && loaded.every((l) => l.targets === 0)) {
    errors.push({ path: '/hyperparameters/objective', message: 'distill needs a source whose samples carry a teacher’s targets (a context_distillation run); none of these has any' })
  }
  if (errors.length) throw dataProblem(errors, unfinished)

  const mixed = loaded.filter((l) => !l.empty)
  const counts = new Map(mixCounts(mixed.map((l) => l.examples.length), mixed.map((l) => sources[l.source]!.weight ?? 1)).map((c, k) => [mixed[k]!.source, c]))
  const total = [...counts.values()].reduce((a, b) => a + b, 0)
  if (total > MAX_EXAMPLES) {
    throw new ProblemError(400, 'validation_failed', `the mix comes to ${total} examples, more than a training takes (${MAX_EXAMPLES})`, [{ path: '/data', message: `the weights ask for ${[...counts.values()].join(' + ')} = ${total} examples; at most ${MAX_EXAMPLES}` }])
  }
  const examples: Example[] = []
  const resolved = loaded.map((l) => {
    const count = counts.get(l.source) ?? 0
    if (count > 0) examples.push(...takeCount(l.examples, count, (seed + l.source * 0x9e3779b9) >>> 0))
    return { source: l.source, kind: l.kind, id: l.id, available: l.examples.length, weight: sources[l.source]!.weight ?? 1, share: count / total, count, ...(objective === 'distill' && { distill_targets: l.targets }) }
  })
  return { examples, resolved, sha256: examplesSha256(examples) }
}

function dataProblem(errors: FieldError[], unfinished: number): ProblemError {
  const detail = `the training data is not usable: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`
  return unfinished === errors.length ? new ProblemError(409, 'run_not_finished', detail, errors) : new ProblemError(400, 'validation_failed', detail, errors)
}
