// Expanding an experiment spec into cells: a per-type scoring splits each evaluation by question type.
import t from 'tap'
import { expandCells } from '../src/experiments/cells.ts'
import { BASE_DEFAULTS, PRESET_DEFAULTS, type ResolvedSpec } from '../src/experiments/spec.ts'

const spec = (over: Partial<ResolvedSpec>): ResolvedSpec => ({
  ...BASE_DEFAULTS, name: 'x', preset: null, news_set_id: 'ns_news', control_set_id: 'ns_control', item_keys: ['mathematics-001'], baseline_question_keys: null, models: ['m'], model_params: { m: 1e9 }, samples_per_news: [8], control: true, ...over,
})
const evals = (s: ResolvedSpec) => expandCells(s).filter((c) => c.kind === 'evaluation')

t.test('one scoring: one evaluation per mode, with the answer prefix', async (t) => {
  const cells = evals(spec({ scoring: 'loglik' }))
  t.same(cells.map((c) => c.key), ['eval:base:m', 'eval:icl:m', 'eval:control:base:m', 'eval:ft:m:self_qa:n8:seed0:lr0.0002:ep2:r16', 'eval:control:ft:m:self_qa:n8:seed0:lr0.0002:ep2:r16'])
  t.match(cells[0]!.body, { scoring: 'loglik', options: { answer_prefix: 'The answer is' }, filter: { item_keys: ['mathematics-001'] } })
  t.notOk((cells[0]!.body.filter as Record<string, unknown>).question_types, 'all question types')
})

t.test('a baseline: base and ICL ask its questions, the adapters their trained news', async (t) => {
  const keys = ['mathematics-001-q1', 'mathematics-001-q2', 'coding-001-q1']
  const cells = evals(spec({ baseline_question_keys: keys, control: false, scoring: { implication: 'generate' } }))
  for (const c of cells.filter((c) => /^eval:(base|icl):/.test(c.key))) t.same((c.body.filter as Record<string, unknown>).question_keys, keys, `${c.key} asks the baseline`)
  const ft = cells.filter((c) => c.key.startsWith('eval:ft:'))
  t.equal(ft.length, 2)
  for (const c of ft) t.match(c.body.filter, { item_keys: ['mathematics-001'] }, `${c.key} asks the trained news`)
  t.ok(ft.every((c) => !(c.body.filter as Record<string, unknown>).question_keys))
})

t.test('gradient checkpointing reaches the training job when the spec sets it, and is left to the worker otherwise', async (t) => {
  const train = (s: ResolvedSpec) => expandCells(s).find((c) => c.kind === 'training')!.body.hyperparameters as Record<string, unknown>
  t.equal(train(spec({ training: { ...BASE_DEFAULTS.training, gradient_checkpointing: false } })).gradient_checkpointing, false)
  t.notOk('gradient_checkpointing' in train(spec({})), 'null: the worker decides')
})

t.test('generate for implication questions: each news evaluation runs once per method, on its types', async (t) => {
  const cells = evals(spec({ scoring: { implication: 'generate' }, evaluation: { answer_prefix: 'Answer:', max_tokens: 2048 } }))
  const base = cells.filter((c) => c.key.startsWith('eval:base:'))
  t.same(base.map((c) => c.key), ['eval:base:m:loglik', 'eval:base:m:generate'])
  t.match(base[0]!.body, { scoring: 'loglik', filter: { item_keys: ['mathematics-001'], question_types: ['recall'] }, options: { answer_prefix: 'Answer:' } })
  t.notOk((base[0]!.body.options as Record<string, unknown>).max_tokens, 'the token budget is a generate option')
  t.match(base[1]!.body, { scoring: 'generate', filter: { question_types: ['implication'] }, options: { answer_prefix: 'Answer:', max_tokens: 2048 } })
  t.equal(base[1]!.labels.scoring, 'generate')
  const ft = cells.filter((c) => c.key.startsWith('eval:ft:'))
  t.equal(ft.length, 2)
  t.ok(ft.every((c) => c.bind[0]!.path === 'adapter_id' && c.depends_on.length === 1), 'both halves wait for the adapter')
  // the control set's types (knowledge, reasoning) are not named: loglik, unsplit
  t.same(cells.filter((c) => c.key.startsWith('eval:control:base')).map((c) => [c.key, c.body.scoring]), [['eval:control:base:m', 'loglik']])
})

t.test('beyond-paper: any registered protocol, the verify stage as a variant, EntiGraph trained on every token, context distillation on KL', async (t) => {
  const cells = expandCells(spec({ ...PRESET_DEFAULTS['beyond-paper'], control: false }))
  const gens = cells.filter((c) => c.kind === 'generation')
  t.same(gens.map((c) => c.key), ['gen:m:self_qa:n8:seed0', 'gen:m:self_qa+verify:n8:seed0', 'gen:m:context_distillation:n8:seed0', 'gen:m:active_reading:n8:seed0', 'gen:m:entigraph:n8:seed0'])
  t.same(gens.map((c) => [c.body.protocol, (c.body.options as { verify: boolean }).verify]), [['self_qa', false], ['self_qa', true], ['context_distillation', false], ['active_reading', false], ['entigraph', false]])
  const hp = cells.filter((c) => c.kind === 'training').map((c) => c.body.hyperparameters as { loss_on?: string; objective?: string })
  t.same(hp.map((h) => h.loss_on ?? 'assistant'), ['assistant', 'assistant', 'assistant', 'assistant', 'all'])
  t.same(hp.map((h) => h.objective ?? 'sft'), ['sft', 'sft', 'distill', 'sft', 'sft'], 'the distillation run’s adapter is trained on its targets')
})

t.test('the request schema offers every preset (one list)', async (t) => {
  const { ExperimentRequest, PRESETS } = await import('../src/experiments/spec.ts')
  t.same((ExperimentRequest.properties.preset as unknown as { anyOf: { const: string }[] }).anyOf.map((s) => s.const), [...PRESETS])
})

t.test('matched compute by budget: a token budget per epoch, or FLOPs made tokens through N and epochs', async (t) => {
  const budgetOf = (s: ResolvedSpec) => expandCells(s).filter((c) => c.kind === 'training').map((c) => (c.body.hyperparameters as { token_budget?: number }).token_budget)
  t.same(budgetOf(spec({ training: { ...BASE_DEFAULTS.training, token_budget: 50_000 } })), [50_000])
  // 6 · 1e9 · 2 epochs · 10,000 tokens = 1.2e14
  t.same(budgetOf(spec({ training: { ...BASE_DEFAULTS.training, flops_budget: 1.2e14 } })), [10_000])
  t.same(budgetOf(spec({})), [undefined], 'no budget: every sample once per epoch')
})
