// Context distillation (Snell et al. 2022, "Learning by distilling context"): the teacher is the
// model with the news in context, the student the same model without it. Self-QA's stages write the
// questions and the teacher's answers; the answers come with the teacher's top-k log-probabilities
// at every token (`top_logprobs`), kept with each accepted sample. The training conversation is
// the question alone → the teacher's answer, and the student is trained on forward KL to the
// teacher's top-k at each of the teacher's tokens (`training.objective: distill`; the worker's
// distill.py says how the mass outside the top k is treated), so the teacher's whole distribution
// is learnt, not one sampled text: where the sample is wrong, the teacher's other likely tokens
// still carry what it knew. Answers that paste the news back are rejected as in Self-QA.
import { Type } from 'typebox'
import type { ChunkContext } from '../kit.ts'
import type { ProtocolModule } from '../protocol.ts'
import { runSelfQa, selfQa } from '../self_qa/index.ts'

/** Change a template, the targets kept or what decides the data → bump the version: every run records it. */
export const VERSION = 'sys2ft-context-distillation-2026.12.0'

export const contextDistillation = {
  name: 'context_distillation',
  description:
    'Self-QA’s questions and with-news answers, each answer kept with the teacher’s top-k log-probabilities per token (`top_logprobs`); the student, without the news, is trained on forward KL to that distribution (training objective `distill`)',
  options: {
    top_logprobs: Type.Integer({ minimum: 1, maximum: 20, default: 8, description: 'context_distillation: the k of the teacher’s top-k kept per answer token, over which the KL loss is taken (recorded with each sample’s targets and in the adapter’s manifest).' }),
  },
  usesModel: true,
  training: { objective: 'distill' },
  templates: { ...selfQa.templates, version: VERSION, student: 'the question alone, without the news → the teacher’s answer tokens' },
  run: (ctx: ChunkContext) => runSelfQa(ctx, { topLogprobs: ctx.opts.top_logprobs }),
} satisfies ProtocolModule<'context_distillation'>
