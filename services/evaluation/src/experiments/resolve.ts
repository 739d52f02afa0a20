import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import { DOMAINS } from '@sys2ft/dataset'
import { ProblemError, invalid, type FieldError } from '@sys2ft/service-kit'
import { BASE_DEFAULTS, DEMO_SUBSET, MAX_SAMPLES_PER_NEWS, MODEL_PARAMS, PRESET_DEFAULTS, normaliseProtocols, samplesFor, type ExperimentRequestT, type ResolvedSpec } from './spec.ts'

/**
 * Turns a request into a complete spec: the preset's defaults, then the request; the news subset
 * resolved to item keys now, so the experiment's cells never change afterwards.
 */
export async function resolveSpec(db: Kysely<Database>, req: ExperimentRequestT, ctx: { defaultModel: () => Promise<string>; checkModel?: (model: string) => Promise<string | undefined> }): Promise<ResolvedSpec> {
  const preset = req.preset ?? null
  const p = preset ? PRESET_DEFAULTS[preset] : {}
  const set = req.news_set_id
    ? await db.selectFrom('news_sets').selectAll().where('id', '=', req.news_set_id).executeTakeFirst()
    : await db.selectFrom('news_sets').selectAll().where('kind', '=', 'news').where('builtin', '=', true).orderBy('created_at', 'desc').executeTakeFirst()
  if (!set) throw req.news_set_id ? new ProblemError(404, 'not_found', `news set ${req.news_set_id} does not exist`, [{ path: '/news_set_id', message: 'no such news set' }]) : new ProblemError(409, 'conflict', 'the shipped news set is not loaded; run the migrate/seed command')
  if (set.kind !== 'news') throw invalid([{ path: '/news_set_id', message: 'must be a news set (the control set is added with `control: true`)' }])

  const domains = req.domains ?? (preset === 'demo' ? [...DEMO_SUBSET.domains] : undefined)
  const perDomain = req.items_per_domain ?? (preset === 'demo' ? DEMO_SUBSET.items_per_domain : undefined)
  let q = db.selectFrom('news_items').select(['key', 'domain']).where('set_id', '=', set.id).orderBy('position')
  if (domains) q = q.where('domain', 'in', domains)
  if (req.item_keys) q = q.where('key', 'in', req.item_keys)
  let items = await q.execute()
  if (req.item_keys) {
    const found = new Set(items.map((i) => i.key))
    const missing = req.item_keys.filter((k) => !found.has(k))
    if (missing.length) throw invalid([{ path: '/item_keys', message: `not in set ${set.name}: ${missing.slice(0, 10).join(', ')}` }])
  }
  if (perDomain) items = firstItemsPerDomain(items.map((i) => ({ ...i, item: i.key })), perDomain)
  if (items.length === 0) throw invalid([{ path: domains ? '/domains' : '/item_keys', message: 'selects no news items' }])

  const baseline = req.baseline ?? (preset === 'demo' ? DEMO_SUBSET.baseline : undefined)
  const baseline_question_keys = baseline ? await baselineQuestions(db, set.id, items.map((i) => i.key), baseline) : null

  const control = req.control ?? p.control ?? BASE_DEFAULTS.control
  const controlSet = control ? await db.selectFrom('news_sets').select('id').where('kind', '=', 'control').orderBy('builtin', 'desc').orderBy('created_at', 'desc').executeTakeFirst() : undefined
  if (control && !controlSet) throw invalid([{ path: '/control', message: 'no control set is loaded' }])

  const training = { ...BASE_DEFAULTS.training, ...p.training, ...req.training }
  if (training.token_budget !== undefined && training.flops_budget !== undefined) throw invalid([{ path: '/training/flops_budget', message: 'give token_budget or flops_budget, not both' }])
  const models = req.models ?? p.models ?? [await ctx.defaultModel()]
  if (ctx.checkModel) {
    // Every cell's generation and base/ICL runs go to the configured worker, so it must serve each model.
    const wrong = (await Promise.all(models.map(async (m, i) => ({ i, why: await ctx.checkModel!(m) })))).filter((w) => w.why)
    if (wrong.length) throw invalid(wrong.map((w) => ({ path: req.models ? `/models/${w.i}` : '/preset', message: w.why! })), `invalid experiment: ${wrong.map((w) => w.why).join('; ')}`)
  }
  const samples_per_news = req.samples_per_news ?? p.samples_per_news ?? BASE_DEFAULTS.samples_per_news
  const match_compute = req.match_compute ?? p.match_compute ?? BASE_DEFAULTS.match_compute
  const model_params = match_compute ? matchedParams(models, req.model_params ?? {}, samples_per_news) : {}
  // a FLOPs budget becomes tokens through each model's N: it must be known
  if (training.flops_budget !== undefined) Object.assign(model_params, knownParams(models, req.model_params ?? {}, (unknown) => [{ path: '/training/flops_budget', message: `needs the parameter count of ${unknown.join(', ')}: give it in model_params` }]))
  return {
    name: req.name ?? `${preset ?? 'experiment'} on ${domains?.join('+') ?? (DOMAINS.length === new Set(items.map((i) => i.domain)).size ? 'all domains' : 'a subset')}`,
    preset,
    news_set_id: set.id,
    control_set_id: controlSet?.id ?? null,
    item_keys: items.map((i) => i.key),
    baseline_question_keys,
    models,
    match_compute,
    model_params,
    protocols: normaliseProtocols(req.protocols) ?? p.protocols ?? BASE_DEFAULTS.protocols,
    samples_per_news,
    generation: { ...BASE_DEFAULTS.generation, ...p.generation, ...req.generation },
    training,
    seeds: req.seeds ?? p.seeds ?? BASE_DEFAULTS.seeds,
    scoring: req.scoring ?? p.scoring ?? BASE_DEFAULTS.scoring,
    evaluation: { ...BASE_DEFAULTS.evaluation, ...p.evaluation, ...req.evaluation },
    ft_icl: req.ft_icl ?? p.ft_icl ?? BASE_DEFAULTS.ft_icl,
    control,
  }
}

/** Each model's parameter count, given or known; a 400 with `refusal`'s fields when one is neither. */
function knownParams(models: string[], given: Record<string, number>, refusal: (unknown: string[]) => FieldError[]): Record<string, number> {
  const params = Object.fromEntries(models.map((m) => [m, given[m] ?? MODEL_PARAMS[m]]))
  const unknown = models.filter((m) => params[m] === undefined)
  if (unknown.length) throw invalid(refusal(unknown))
  return params as Record<string, number>
}

/** Each model's parameter count for matched compute, checked: known, and no cell over the samples cap. */
function matchedParams(models: string[], given: Record<string, number>, levels: number[]): Record<string, number> {
  const params = knownParams(models, given, (unknown) => unknown.map((m) => ({ path: '/model_params', message: `match_compute needs the parameter count of ${m}: give it in model_params` })))
  const spec = { match_compute: true, models, model_params: params }
  const over = models.flatMap((m) => levels.filter((l) => samplesFor(spec, m, l) > MAX_SAMPLES_PER_NEWS).map((l) => `${m} at ${l} needs ${samplesFor(spec, m, l)}`))
  if (over.length) throw invalid([{ path: '/samples_per_news', message: `matched compute exceeds ${MAX_SAMPLES_PER_NEWS} samples per news: ${over.join('; ')}` }])
  return spec.model_params
}

/** Rows of the first `n` news items of each domain (rows in the set's order; several rows may share an item). */
function firstItemsPerDomain<T extends { domain: string; item: string }>(rows: T[], n: number): T[] {
  const taken = new Map<string, Set<string>>()
  return rows.filter((r) => {
    const items = taken.get(r.domain) ?? new Set<string>()
    taken.set(r.domain, items)
    if (!items.has(r.item) && items.size < n) items.add(r.item)
    return items.has(r.item)
  })
}

/**
 * The questions base and ICL ask under a `baseline`: every question of the trained news, and the
 * baseline's (its domains, the first N items of each, its types), each once.
 */
async function baselineQuestions(db: Kysely<Database>, setId: string, trained: string[], b: NonNullable<ExperimentRequestT['baseline']>): Promise<string[]> {
  const questions = () =>
    db.selectFrom('questions').innerJoin('news_items', 'news_items.id', 'questions.item_id').select(['questions.key as key', 'news_items.key as item', 'news_items.domain as domain']).where('questions.set_id', '=', setId).orderBy('news_items.position').orderBy('questions.position')
  const ofTrained = await questions().where('news_items.key', 'in', trained).execute()
  let q = questions()
  if (b.domains) q = q.where('news_items.domain', 'in', b.domains)
  if (b.question_types) q = q.where('questions.type', 'in', b.question_types)
  let rows = await q.execute()
  if (b.items_per_domain !== undefined) rows = firstItemsPerDomain(rows, b.items_per_domain)
  return [...new Set([...ofTrained, ...rows].map((r) => r.key))]
}
