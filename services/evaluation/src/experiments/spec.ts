import { Type, type Static } from 'typebox'
import { LiteralUnion } from '@sys2ft/service-kit'
import { AnswerPrefixSchema, DEFAULT_ANSWER_PREFIX, DomainSchema } from '@sys2ft/dataset'
import { ProtocolSchema } from '@sys2ft/generation/protocols'

export { PROTOCOLS } from '@sys2ft/generation/protocols'

export const PRESETS = ['ft-icl-gap', 'protocols', 'contextual-shadowing', 'overexposure', 'scaling', 'forgetting', 'beyond-paper', 'demo'] as const
export type Preset = (typeof PRESETS)[number]
// the generation service's registry is the one list of protocols
const ProtocolName = ProtocolSchema
export type ProtocolName = Static<typeof ProtocolName>

export const ProtocolVariant = Type.Object(
  {
    protocol: ProtocolName,
    news_in_context: Type.Optional(Type.Boolean({ description: 'Train with the news before the generated text (contextual shadowing). Default false.' })),
    replay: Type.Optional(Type.Integer({ minimum: 0, maximum: 64, description: 'Copies of the news text mixed in per news item. Default 0.' })),
    verify: Type.Optional(Type.Boolean({ description: 'The self-verification stage after the protocol: the model, with the news in context, judges each conversation and the inconsistent ones are dropped. Default false.' })),
  },
  { additionalProperties: false },
)
export type ProtocolVariantT = Required<Static<typeof ProtocolVariant>>

const ScoringMethod = Type.Union([Type.Literal('loglik'), Type.Literal('generate')])
export type ScoringMethodT = Static<typeof ScoringMethod>
/** One method for every question, or one per question type (types left out: loglik). */
export const ScoringSpec = Type.Union([
  ScoringMethod,
  Type.Object(
    { recall: Type.Optional(ScoringMethod), implication: Type.Optional(ScoringMethod), knowledge: Type.Optional(ScoringMethod), reasoning: Type.Optional(ScoringMethod) },
    { additionalProperties: false, minProperties: 1 },
  ),
], {
  description:
    '`loglik` or `generate` for every question, or per question type, e.g. `{"implication": "generate"}`: implication questions reason before the answer (where a small model can use the news), recall questions are scored by likelihood (types left out: loglik). Each evaluation then runs once per method, on its types.',
})
export type ScoringSpecT = Static<typeof ScoringSpec>

const List = <T extends Parameters<typeof Type.Array>[0]>(item: T, max: number, description: string) => Type.Array(item, { minItems: 1, maxItems: max, uniqueItems: true, description })

/** What a user asks for. Every field is optional: a preset fills the rest (see PRESET_DEFAULTS). */
export const ExperimentRequest = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    preset: Type.Optional(
      LiteralUnion(PRESETS, {
        description: 'A research table to reproduce; its defaults apply to the fields you leave out.',
      }),
    ),
    news_set_id: Type.Optional(Type.String({ description: 'Default: the shipped New News set.' })),
    domains: Type.Optional(List(DomainSchema, 5, 'Only these domains.')),
    items_per_domain: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'The first N news items of each domain (a subset for quick runs).' })),
    item_keys: Type.Optional(List(Type.String({ minLength: 1 }), 10_000, 'Exactly these news items.')),
    baseline: Type.Optional(
      Type.Object(
        {
          domains: Type.Optional(List(DomainSchema, 5, 'Of these domains (default: all).')),
          items_per_domain: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'The first N news items of each domain (default: all).' })),
          question_types: Type.Optional(List(Type.Union([Type.Literal('recall'), Type.Literal('implication')]), 2, 'Of these types (default: both).')),
        },
        {
          additionalProperties: false,
          description:
            'Base and ICL also ask these questions of the set, beyond every question of the trained news (which every row asks): the ICL gain needs no training, so it can be measured on far more questions than an adapter. The FT-ICL gap and gap closed stay on the trained news. Default: only the trained news (the `demo` preset: the recall questions of every news item).',
        },
      ),
    ),
    models: Type.Optional(List(Type.String({ minLength: 1 }), 8, 'Base models (each served by a worker). Default: the worker’s model (`scaling`: the 0.5B and 1.5B models).')),
    match_compute: Type.Optional(
      Type.Boolean({
        description: 'Matched training compute across model sizes: `samples_per_news` are the largest model’s, and a model with N parameters gets samples × N_largest / N (rounded), so the nominal 6·N·D is the same for every size at each level. Default: true for `scaling`, else false.',
      }),
    ),
    model_params: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Integer({ minimum: 1 }), { description: 'Parameter counts N for `match_compute`, for models the service does not know (it knows the Qwen2.5-Coder 0.5B and 1.5B aliases).' })),
    protocols: Type.Optional(Type.Array(Type.Union([ProtocolName, ProtocolVariant]), { minItems: 1, maxItems: 16 })),
    samples_per_news: Type.Optional(List(Type.Integer({ minimum: 1, maximum: 4096 }), 8, 'Self-play samples per news item; several values make a scaling sweep (with `match_compute`: the largest model’s).')),
    generation: Type.Optional(
      Type.Object(
        {
          temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
          top_p: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
          max_tokens: Type.Optional(Type.Integer({ minimum: 16, maximum: 4096 })),
          questions_per_call: Type.Optional(Type.Integer({ minimum: 1, maximum: 32 })),
          strategies_per_news: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
          items_per_call: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
          max_rounds: Type.Optional(Type.Integer({ minimum: 1, maximum: 5 })),
        },
        { additionalProperties: false },
      ),
    ),
    training: Type.Optional(
      Type.Object(
        {
          learning_rate: Type.Optional(List(Type.Number({ exclusiveMinimum: 0, maximum: 1 }), 8, 'A grid: one training per value.')),
          epochs: Type.Optional(List(Type.Integer({ minimum: 1, maximum: 100 }), 8, 'A grid.')),
          lora_r: Type.Optional(List(Type.Integer({ minimum: 1, maximum: 512 }), 8, 'A grid.')),
          batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 512 })),
          max_seq_len: Type.Optional(Type.Integer({ minimum: 16, maximum: 32768 })),
          lr_scheduler: Type.Optional(Type.Union([Type.Literal('linear'), Type.Literal('cosine'), Type.Literal('constant')])),
          warmup_ratio: Type.Optional(Type.Number({ minimum: 0, maximum: 0.5 })),
          gradient_checkpointing: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'Recompute activations in backward (less memory, ~30% more compute); null (default): the worker decides.' })),
          token_budget: Type.Optional(Type.Integer({ minimum: 1, maximum: 1e10, description: 'Matched compute: every training trains on this many tokens per epoch, its protocol’s samples repeated or subsampled to meet it (so protocols compare at equal training FLOPs, whatever their sample counts and lengths).' })),
          flops_budget: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Matched compute in FLOPs: every training spends about this many (6·N·D), i.e. a token budget of FLOPs / (6 · N · epochs) for a model with N parameters. Not with token_budget.' })),
        },
        { additionalProperties: false },
      ),
    ),
    seeds: Type.Optional(List(Type.Integer({ minimum: 0, maximum: 2_147_483_647 }), 10, 'One generation + training + evaluation per seed.')),
    scoring: Type.Optional(ScoringSpec),
    evaluation: Type.Optional(
      Type.Object(
        {
          answer_prefix: Type.Optional(AnswerPrefixSchema(`Every eval run's \`options.answer_prefix\` (default "${DEFAULT_ANSWER_PREFIX}").`)),
          max_tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: '`generate` runs\' token budget (the eval run\'s default: 1024 with reasoning).' })),
        },
        { additionalProperties: false },
      ),
    ),
    ft_icl: Type.Optional(Type.Boolean({ description: 'Also evaluate each adapter with the news in context (the curse of overexposure).' })),
    control: Type.Optional(Type.Boolean({ description: 'Also evaluate base and each adapter on the general-knowledge control set (forgetting).' })),
  },
  { additionalProperties: false },
)
export type ExperimentRequestT = Static<typeof ExperimentRequest>

/** The spec after presets and defaults: every field set, stored on the experiment. */
export interface ResolvedSpec {
  name: string
  preset: Preset | null
  news_set_id: string
  control_set_id: string | null
  item_keys: string[]
  /** What base and ICL ask when a `baseline` widens them: every question of the trained news and the baseline's (null: the trained news). */
  baseline_question_keys: string[] | null
  models: string[]
  /** With it, `samples_per_news` are compute levels: the largest model's samples (see samplesFor). */
  match_compute: boolean
  /** Parameter counts of the models, when compute is matched. */
  model_params: Record<string, number>
  protocols: ProtocolVariantT[]
  samples_per_news: number[]
  generation: { temperature: number; top_p: number; max_tokens: number; questions_per_call: number; items_per_call: number; max_rounds: number }
  training: { learning_rate: number[]; epochs: number[]; lora_r: number[]; batch_size: number; max_seq_len: number; lr_scheduler: 'linear' | 'cosine' | 'constant'; warmup_ratio: number; gradient_checkpointing?: boolean | null; token_budget?: number; flops_budget?: number }
  seeds: number[]
  scoring: ScoringSpecT
  evaluation: { answer_prefix: string; max_tokens?: number }
  ft_icl: boolean
  control: boolean
}

const variant = (protocol: ProtocolName, extra: Partial<ProtocolVariantT> = {}): ProtocolVariantT => ({ protocol, news_in_context: false, replay: 0, verify: false, ...extra })

/** Each preset mirrors one of the research's tables (../shared/paper-notes.md). */
export const PRESET_DEFAULTS: Record<Preset, Partial<ResolvedSpec>> = {
  'ft-icl-gap': { protocols: [variant('naive')] },
  protocols: { protocols: [variant('naive'), variant('paraphrase'), variant('implication'), variant('self_qa')] },
  'contextual-shadowing': { protocols: (['paraphrase', 'implication', 'self_qa'] as const).flatMap((p) => [variant(p), variant(p, { news_in_context: true })]) },
  overexposure: { protocols: [variant('naive'), variant('self_qa')], ft_icl: true },
  // the research's emerging scaling law: accuracy vs training FLOPs, one curve per model size
  scaling: { models: ['qwen2.5-coder-0.5b-instruct', 'qwen2.5-coder-1.5b-instruct'], match_compute: true, protocols: [variant('self_qa')], samples_per_news: [8, 32, 128] },
  forgetting: { protocols: [variant('naive'), variant('self_qa')], control: true },
  // past the paper: newer ways of turning news into training data beside Self-QA, context
  // distillation trained on the teacher's top-k (budgets are matched by samples per news, not tokens)
  'beyond-paper': { protocols: [variant('self_qa'), variant('self_qa', { verify: true }), variant('context_distillation'), variant('active_reading'), variant('entigraph')] },
  // sized for a 2-core CPU: short generations, small training batches
  demo: {
    protocols: [variant('naive'), variant('self_qa')],
    samples_per_news: [4],
    generation: { temperature: 0.8, top_p: 0.95, max_tokens: 256, questions_per_call: 8, items_per_call: 8, max_rounds: 1 },
    // no checkpointing: the demo's batches fit a CPU machine's memory without it, and it costs ~30% time
    training: { learning_rate: [2e-4], epochs: [2], lora_r: [16], batch_size: 4, max_seq_len: 512, lr_scheduler: 'cosine', warmup_ratio: 0.03, gradient_checkpointing: false },
  },
}

/**
 * Parameter counts of the models the product ships (from their configs; tied embeddings counted
 * once). The worker reports the exact count after training (compute.total_params), and the real
 * FLOPs are what the report plots; these only size the cells of a matched-compute experiment.
 */
export const MODEL_PARAMS: Record<string, number> = {
  'qwen2.5-coder-0.5b-instruct': 494_032_768,
  'qwen2.5-coder-1.5b-instruct': 1_543_714_304,
}

/**
 * Samples per news for a model at one level. Matched compute: training FLOPs are 6·N·D and D grows
 * with the samples (the same protocol, prompts and tokenizer give samples of about the same length),
 * so a model with N parameters gets level × N_largest / N samples and 6·N·D stays the same.
 */
export function samplesFor(spec: Pick<ResolvedSpec, 'match_compute' | 'model_params' | 'models'>, model: string, level: number): number {
  if (!spec.match_compute) return level
  const largest = Math.max(...spec.models.map((m) => spec.model_params[m]!))
  return Math.max(1, Math.round((level * largest) / spec.model_params[model]!))
}

export const MAX_SAMPLES_PER_NEWS = 4096

export const BASE_DEFAULTS = {
  protocols: [variant('self_qa')],
  samples_per_news: [64],
  generation: { temperature: 0.8, top_p: 0.95, max_tokens: 384, questions_per_call: 8, items_per_call: 8, max_rounds: 2 },
  training: { learning_rate: [2e-4], epochs: [2], lora_r: [16], batch_size: 8, max_seq_len: 1024, lr_scheduler: 'cosine' as const, warmup_ratio: 0.03 },
  seeds: [0],
  match_compute: false,
  scoring: 'loglik' as ScoringSpecT,
  evaluation: { answer_prefix: DEFAULT_ANSWER_PREFIX },
  ft_icl: false,
  control: false,
}

/**
 * The demo preset: two news each of events and leaderboards trained, small enough for a 2-core
 * CPU; base and ICL also ask the recall question of every news item. Measured on the shipped set
 * with the 0.5B model (option_norm): the news in context lifts recall questions by +24.5 points
 * [+15, +33] (98 questions), most in events (+44) and leaderboards (+35), not in coding (0), and
 * implication questions not at all (−0.7 [−4.5, +3.0], 402 questions): so these are the questions
 * and the domains on which a CPU-sized demo can show the ICL gain, and an adapter close any of it.
 */
export const DEMO_SUBSET = { domains: ['events', 'leaderboards'] as const, items_per_domain: 2, baseline: { question_types: ['recall' as const] } }

export function normaliseProtocols(list: ExperimentRequestT['protocols']): ProtocolVariantT[] | undefined {
  return list?.map((p) => (typeof p === 'string' ? variant(p) : variant(p.protocol, { news_in_context: p.news_in_context ?? false, replay: p.replay ?? 0, verify: p.verify ?? false })))
}
