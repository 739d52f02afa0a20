import type { Kysely } from 'kysely'
import type { Database } from '@sys2ft/db'
import type { TrainingDescriptionT } from '../schemas/reports.ts'

const MODE_LABEL = { base: 'base', icl: 'ICL', ft: 'FT', ft_icl: 'FT+ICL' } as const
type Mode = keyof typeof MODE_LABEL

const int = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : null)
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/**
 * What each adapter is, read from the tables behind it (adapter → training job → generation runs):
 * a reader needs "self_qa, 8 per news, lr 2e-4, 2 epochs", not a job id.
 */
export async function describeAdapters(db: Kysely<Database>, adapterIds: string[]): Promise<Map<string, TrainingDescriptionT>> {
  if (adapterIds.length === 0) return new Map()
  const adapters = await db
    .selectFrom('adapters as a')
    .innerJoin('training_jobs as j', 'j.id', 'a.job_id')
    .select(['a.id', 'a.hyperparameters', 'j.data', 'j.seed'])
    .where('a.id', 'in', adapterIds)
    .execute()
  const sourcesOf = (data: unknown) => ((data as { sources?: { generation_run_id?: string; news_set_id?: string }[] }).sources ?? [])
  const genIds = [...new Set(adapters.flatMap((a) => sourcesOf(a.data).flatMap((s) => (s.generation_run_id ? [s.generation_run_id] : []))))]
  const gens = new Map(genIds.length ? (await db.selectFrom('generation_runs').select(['id', 'protocol', 'options', 'prompt_tokens', 'completion_tokens']).where('id', 'in', genIds).execute()).map((g) => [g.id, g]) : [])
  return new Map(
    adapters.filter((a) => sourcesOf(a.data).length > 0).map((a) => {
      // read loosely: an adapter stored before a setting existed lacks it
      const hp = a.hyperparameters as { learning_rate?: unknown; epochs?: unknown; lora?: { r?: unknown }; token_budget?: unknown }
      const runs = sourcesOf(a.data).map((s) => (s.generation_run_id ? gens.get(s.generation_run_id) : undefined))
      // the verify stage changes the data as much as a protocol does: it is part of the name
      const protocols = [...new Set(runs.map((g) => (g?.protocol ?? 'naive') + (g?.options.verify ? '+verify' : '')))]
      const opts = runs.map((g) => (g?.options ?? {}) as { samples_per_news?: unknown; news_in_context?: unknown; replay?: unknown })
      // one generation run is the usual case; a mix reports what its runs agree on
      const agreed = <T>(values: T[]) => (new Set(values).size === 1 ? values[0]! : null)
      return [a.id, {
        protocol: protocols.join('+'),
        samples_per_news: agreed(opts.map((o) => int(o.samples_per_news))),
        news_in_context: opts.some((o) => o.news_in_context === true),
        replay: agreed(opts.map((o) => int(o.replay) ?? 0)) ?? 0,
        learning_rate: num(hp.learning_rate),
        epochs: int(hp.epochs),
        lora_r: int(hp.lora?.r),
        token_budget: int(hp.token_budget),
        seed: a.seed,
        generation_tokens: runs.every((g) => g) ? runs.reduce((sum, g) => sum + Number(g!.prompt_tokens) + Number(g!.completion_tokens), 0) : null,
      }]
    }),
  )
}

/** The protocol as a short phrase: `self_qa`, `self_qa, news in context`, `naive + replay 1`. */
export function variantPhrase(t: TrainingDescriptionT): string {
  return `${t.protocol}${t.news_in_context ? ', news in context' : ''}${t.replay ? ` + replay ${t.replay}` : ''}`
}

const lr = (x: number) => `lr ${x.toExponential().replace('e+', 'e')}`

/**
 * A run named by what it is: "base", "ICL", "FT · self_qa · 8/news · lr 2e-4 · 2 ep"; the model is
 * added when the report has several, "control" for a control-set run. An adapter whose training
 * cannot be traced (trained outside this stack) keeps its name.
 */
/** 12000 → 12k, 1500000 → 1.5M: a token budget at a glance. */
export const tokens = (n: number) => (n >= 1e6 ? `${+(n / 1e6).toPrecision(3)}M` : n >= 1e3 ? `${+(n / 1e3).toPrecision(3)}k` : String(n))

export function runLabel(mode: Mode, training: TrainingDescriptionT | null, adapterName: string | null, extra: { model?: string; control?: boolean }): string {
  const parts: string[] = [MODE_LABEL[mode]]
  if (training) {
    parts.push(variantPhrase(training))
    if (training.samples_per_news !== null) parts.push(`${training.samples_per_news}/news`)
    // at a matched budget the samples are repeated or subsampled: the budget says what was trained on
    if (training.token_budget !== null) parts.push(`${tokens(training.token_budget)} tok/ep`)
    if (training.learning_rate !== null) parts.push(lr(training.learning_rate))
    if (training.epochs !== null) parts.push(`${training.epochs} ep`)
  } else if (adapterName) parts.push(adapterName)
  if (extra.model) parts.push(extra.model)
  if (extra.control) parts.push('control')
  return parts.join(' · ')
}

/** The chart series of an FT run: one line per mode, protocol variant and model (never one line for all protocols). */
export function seriesOf(mode: Mode, training: TrainingDescriptionT | null, model: string): string {
  return `${MODE_LABEL[mode]}${training ? ` ${variantPhrase(training)}` : ''} · ${model}`
}
