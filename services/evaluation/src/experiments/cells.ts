import { samplesFor, type ProtocolVariantT, type ResolvedSpec } from './spec.ts'

export type CellKind = 'generation' | 'training' | 'evaluation'

/** A value of a request body taken from a finished dependency: its resource id, or a field of its result. */
export interface Binding {
  /** Dotted path in the body, e.g. `data.0.generation_run_id`. */
  path: string
  from: string
  field: 'resource_id' | 'adapter_id'
}

export interface CellPlan {
  key: string
  kind: CellKind
  /** The request body that creates the resource, before bindings. */
  body: Record<string, unknown>
  bind: Binding[]
  depends_on: string[]
  /** What the results table says about this cell. */
  labels: Record<string, string | number | boolean>
}

export const variantKey = (v: ProtocolVariantT) => `${v.protocol}${v.news_in_context ? '+nic' : ''}${v.replay ? `+replay${v.replay}` : ''}`

/**
 * Expands a resolved spec into cells. `base` and `icl` are evaluated once per model and shared by
 * every row; a generation run is shared by the training grid points that use it. Keys are stable,
 * so expanding the same spec again gives the same cells (a resumed experiment finds its own).
 */
export function expandCells(spec: ResolvedSpec): CellPlan[] {
  const cells: CellPlan[] = []
  const filter = { item_keys: spec.item_keys }
  const evalBody = (model: string, mode: string, setId: string, evalFilter: Record<string, unknown> | undefined) => ({
    model,
    set_id: setId,
    mode,
    scoring: spec.scoring,
    ...(evalFilter ? { filter: evalFilter } : {}),
  })
  for (const model of spec.models) {
    for (const mode of ['base', 'icl'] as const)
      cells.push({ key: `eval:${mode}:${model}`, kind: 'evaluation', body: evalBody(model, mode, spec.news_set_id, filter), bind: [], depends_on: [], labels: { model, mode, method: mode } })
    if (spec.control && spec.control_set_id)
      cells.push({ key: `eval:control:base:${model}`, kind: 'evaluation', body: evalBody(model, 'base', spec.control_set_id, undefined), bind: [], depends_on: [], labels: { model, mode: 'base', method: 'base', set: 'control' } })

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
            body: { news_set_id: spec.news_set_id, protocol: v.protocol, filter, options: { ...spec.generation, samples_per_news: samples, seed, news_in_context: v.news_in_context, replay: v.replay, model } },
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
                    hyperparameters: { lora: { r, alpha: 2 * r }, learning_rate: lr, epochs, batch_size: spec.training.batch_size, max_seq_len: spec.training.max_seq_len, lr_scheduler: spec.training.lr_scheduler, warmup_ratio: spec.training.warmup_ratio },
                    seed,
                  },
                  bind: [{ path: 'data.0.generation_run_id', from: genKey, field: 'resource_id' }],
                  depends_on: [genKey],
                  labels,
                })
                const modes = spec.ft_icl ? (['ft', 'ft_icl'] as const) : (['ft'] as const)
                for (const mode of modes)
                  cells.push({ key: `eval:${mode}:${trainKey.slice('train:'.length)}`, kind: 'evaluation', body: evalBody(model, mode, spec.news_set_id, filter), bind: [{ path: 'adapter_id', from: trainKey, field: 'adapter_id' }], depends_on: [trainKey], labels: { ...labels, mode, method: mode } })
                if (spec.control && spec.control_set_id)
                  cells.push({ key: `eval:control:ft:${trainKey.slice('train:'.length)}`, kind: 'evaluation', body: evalBody(model, 'ft', spec.control_set_id, undefined), bind: [{ path: 'adapter_id', from: trainKey, field: 'adapter_id' }], depends_on: [trainKey], labels: { ...labels, mode: 'ft', method: 'ft', set: 'control' } })
              }
        }
  }
  return cells
}

/** Writes `value` at a dotted path (`data.0.generation_run_id`) into a copy of `body`. */
export function bindValue(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(body)
  const parts = path.split('.')
  let at: Record<string, unknown> | unknown[] = copy
  for (const p of parts.slice(0, -1)) at = (at as Record<string, unknown>)[p] as Record<string, unknown>
  ;(at as Record<string, unknown>)[parts.at(-1)!] = value
  return copy
}
