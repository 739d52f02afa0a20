import { REGISTRY, type ProtocolModule } from '@sys2ft/generation/protocols'
import type { CreateRunRequest } from '@sys2ft/generation/schemas/generation-runs'
import type { CreateJobRequest } from '@sys2ft/training/schemas/training-jobs'
import type { CreateEvalRunT, FilterT } from '../schemas/eval-runs.ts'
import { BASE_DEFAULTS, samplesFor, type ProtocolVariantT, type ResolvedSpec, type ScoringMethodT, type ScoringSpecT } from './spec.ts'

/**
 * Matched compute by budget: the tokens per epoch every training spends (`token_budget`), or those
 * that make a `flops_budget` of 6·N·D for this model and number of epochs (its N checked and
 * recorded in `model_params` when the spec was resolved).
 */
function tokenBudget(spec: ResolvedSpec, model: string, epochs: number): Pick<TrainingHyperparameters, 'token_budget'> {
  const { token_budget, flops_budget } = spec.training
  if (token_budget !== undefined) return { token_budget }
  const n = spec.model_params[model]
  if (flops_budget === undefined || n === undefined) return {}
  return { token_budget: Math.max(1, Math.round(flops_budget / (6 * n * epochs))) }
}

/** How a protocol's data is trained unless the experiment says otherwise (its module knows: EntiGraph's text takes the loss on every token, context distillation's targets the KL objective). */
const protocolTraining = (name: ProtocolVariantT['protocol']): Pick<TrainingHyperparameters, 'loss_on' | 'objective'> => (REGISTRY[name] as ProtocolModule).training ?? {}

/**
 * The request body each kind of cell sends, typed by the schema of the service that takes it
 * (POST /generation-runs, /training-jobs, /eval-runs): a field renamed there fails to compile here.
 */
export interface CellBodies {
  generation: CreateRunRequest
  training: CreateJobRequest
  evaluation: CreateEvalRunT
}
export type CellKind = keyof CellBodies
type TrainingHyperparameters = NonNullable<CreateJobRequest['hyperparameters']>

/** A value of a request body taken from a finished dependency: its resource id, or a field of its result. */
export interface Binding {
  /** Dotted path in the body, e.g. `data.0.generation_run_id`. */
  path: string
  from: string
  field: 'resource_id' | 'adapter_id'
}

interface CellCommon {
  key: string
  bind: Binding[]
  depends_on: string[]
  /** What the results table says about this cell. */
  labels: Record<string, string | number | boolean>
}
/** One cell: its kind and the request body that creates its resource, before bindings. */
export type CellPlan = { [K in CellKind]: CellCommon & { kind: K; body: CellBodies[K] } }[CellKind]

export const variantKey = (v: ProtocolVariantT) => `${v.protocol}${v.verify ? '+verify' : ''}${v.news_in_context ? '+nic' : ''}${v.replay ? `+replay${v.replay}` : ''}`

const TYPES = { news: ['recall', 'implication'], control: ['knowledge', 'reasoning'] } as const

/** The scoring methods of one evaluation and the question types each asks (all types: none named). */
function scoringSplits(scoring: ScoringSpecT, set: keyof typeof TYPES): { scoring: ScoringMethodT; question_types?: FilterT['question_types'] }[] {
  if (typeof scoring === 'string') return [{ scoring }]
  const byMethod = new Map<ScoringMethodT, NonNullable<FilterT['question_types']>>()
  for (const type of TYPES[set]) byMethod.set(scoring[type] ?? 'loglik', [...(byMethod.get(scoring[type] ?? 'loglik') ?? []), type])
  if (byMethod.size === 1) return [{ scoring: [...byMethod.keys()][0]! }]
  return [...byMethod].map(([method, types]) => ({ scoring: method, question_types: types }))
}

/**
 * Expands a resolved spec into cells. `base` and `icl` are evaluated once per model and shared by
 * every row; a generation run is shared by the training grid points that use it. Keys are stable,
 * so expanding the same spec again gives the same cells (a resumed experiment finds its own).
 */
export function expandCells(spec: ResolvedSpec): CellPlan[] {
  const cells: CellPlan[] = []
  const filter = { item_keys: spec.item_keys }
  // base and ICL need no training: under a baseline they ask more questions than the adapters
  const baselineFilter = spec.baseline_question_keys ? { question_keys: spec.baseline_question_keys } : filter
  /** One evaluation cell per scoring method (a per-type scoring splits it by question type; its key gets the method). */
  const pushEval = (cell: CellCommon, model: string, mode: CreateEvalRunT['mode'], setId: string, evalFilter: FilterT | undefined) => {
    const splits = scoringSplits(spec.scoring, setId === spec.control_set_id ? 'control' : 'news')
    for (const split of splits) {
      const f: FilterT = { ...evalFilter, ...(split.question_types && ({ question_types: split.question_types } satisfies FilterT)) }
      const ev = spec.evaluation ?? BASE_DEFAULTS.evaluation // specs stored before the field existed
      const options: CreateEvalRunT['options'] = { answer_prefix: ev.answer_prefix, ...(split.scoring === 'generate' && ev.max_tokens !== undefined && ({ max_tokens: ev.max_tokens } satisfies CreateEvalRunT['options'])) }
      cells.push({
        ...cell,
        key: splits.length > 1 ? `${cell.key}:${split.scoring}` : cell.key,
        kind: 'evaluation',
        body: { model, set_id: setId, mode, scoring: split.scoring, options, ...(Object.keys(f).length ? { filter: f } : {}) },
        labels: { ...cell.labels, ...(splits.length > 1 && { scoring: split.scoring }) },
      })
    }
  }
  for (const model of spec.models) {
    for (const mode of ['base', 'icl'] as const) pushEval({ key: `eval:${mode}:${model}`, bind: [], depends_on: [], labels: { model, mode, method: mode } }, model, mode, spec.news_set_id, baselineFilter)
    if (spec.control && spec.control_set_id)
      pushEval({ key: `eval:control:base:${model}`, bind: [], depends_on: [], labels: { model, mode: 'base', method: 'base', set: 'control' } }, model, 'base', spec.control_set_id, undefined)

    for (const v of spec.protocols)
      for (const level of spec.samples_per_news)
        for (const seed of spec.seeds) {
          // matched compute: the level is the largest model's samples; this model's are scaled to it
          const samples = samplesFor(spec, model, level)
          const compute: Record<string, number> = spec.match_compute ? { compute_level: level } : {}
          const genKey = `gen:${model}:${variantKey(v)}:n${samples}:seed${seed}`
          cells.push({
            key: genKey,
            kind: 'generation',
            body: { news_set_id: spec.news_set_id, protocol: v.protocol, filter, options: { ...spec.generation, samples_per_news: samples, seed, news_in_context: v.news_in_context, replay: v.replay, verify: v.verify, model } },
            bind: [],
            depends_on: [],
            labels: { model, protocol: variantKey(v), samples, ...compute, seed },
          })
          for (const lr of spec.training.learning_rate)
            for (const epochs of spec.training.epochs)
              for (const r of spec.training.lora_r) {
                const trainKey = `train:${model}:${variantKey(v)}:n${samples}:seed${seed}:lr${lr}:ep${epochs}:r${r}`
                const labels = { model, protocol: variantKey(v), samples, ...compute, seed, learning_rate: lr, epochs, lora_r: r }
                cells.push({
                  key: trainKey,
                  kind: 'training',
                  body: {
                    base_model: model,
                    data: [{ generation_run_id: '' }],
                    hyperparameters: { ...protocolTraining(v.protocol), lora: { r, alpha: 2 * r }, learning_rate: lr, epochs, batch_size: spec.training.batch_size, max_seq_len: spec.training.max_seq_len, lr_scheduler: spec.training.lr_scheduler, warmup_ratio: spec.training.warmup_ratio, ...(spec.training.gradient_checkpointing != null && ({ gradient_checkpointing: spec.training.gradient_checkpointing } satisfies TrainingHyperparameters)), ...tokenBudget(spec, model, epochs) },
                    seed,
                  },
                  bind: [{ path: 'data.0.generation_run_id', from: genKey, field: 'resource_id' }],
                  depends_on: [genKey],
                  labels,
                })
                const modes = spec.ft_icl ? (['ft', 'ft_icl'] as const) : (['ft'] as const)
                const bind = [{ path: 'adapter_id', from: trainKey, field: 'adapter_id' as const }]
                for (const mode of modes)
                  pushEval({ key: `eval:${mode}:${trainKey.slice('train:'.length)}`, bind, depends_on: [trainKey], labels: { ...labels, mode, method: mode } }, model, mode, spec.news_set_id, filter)
                if (spec.control && spec.control_set_id)
                  pushEval({ key: `eval:control:ft:${trainKey.slice('train:'.length)}`, bind, depends_on: [trainKey], labels: { ...labels, mode: 'ft', method: 'ft', set: 'control' } }, model, 'ft', spec.control_set_id, undefined)
              }
        }
  }
  return cells
}

/** Writes `value` at a dotted path (`data.0.generation_run_id`) into a copy of `body`. */
export function bindValue<T extends object>(body: T, path: string, value: unknown): T {
  const copy = structuredClone(body)
  const parts = path.split('.')
  let at = copy as Record<string, unknown> | unknown[]
  for (const p of parts.slice(0, -1)) at = (at as Record<string, unknown>)[p] as Record<string, unknown>
  ;(at as Record<string, unknown>)[parts.at(-1)!] = value
  return copy
}
