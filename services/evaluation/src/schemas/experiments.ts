import { Type } from 'typebox'
import { ExperimentResults } from './results.ts'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const ExperimentCell = Type.Object({
  key: Type.String({ description: 'Stable name of the cell, e.g. `train:<model>:self_qa:n8:seed0:lr0.0002:ep2:r16`.' }),
  kind: Type.Union([Type.Literal('generation'), Type.Literal('training'), Type.Literal('evaluation')]),
  state: Type.Union([Type.Literal('pending'), Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')]),
  resource_id: Nullable(Type.String({ description: 'The generation run, training job or eval run.' })),
  depends_on: Type.Array(Type.String()),
  progress: Type.Record(Type.String(), Type.Unknown()),
  error: Nullable(Type.String()),
  started_at: Nullable(Type.String({ format: 'date-time' })),
  finished_at: Nullable(Type.String({ format: 'date-time' })),
})

export const Experiment = Type.Object(
  {
    id: Type.String({ examples: ['exp_0193a6f2c1e47c2b9f1d3e5a7b9c0d1e'] }),
    object: Type.Literal('experiment'),
    name: Type.String(),
    preset: Nullable(Type.String()),
    state: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')]),
    progress: Type.Object({ done: Type.Integer(), total: Type.Integer(), unit: Type.String() }),
    estimate: Type.Object({ elapsed_s: Type.Number(), remaining_s: Nullable(Type.Number({ description: 'From the pace of the cells so far (running cells by their own progress).' })) }),
    cells: Type.Array(ExperimentCell),
    spec: Type.Record(Type.String(), Type.Unknown(), { description: 'The resolved spec: preset defaults applied, news subset resolved to item keys.' }),
    results: Type.Union([
      ExperimentResults,
      // an experiment that finished under an earlier version keeps the table it was given then
      Type.Record(Type.String(), Type.Unknown(), { description: 'A table stored by an earlier version (before the ICL gain and the cluster bootstrap).' }),
      Type.Null(),
    ]),
    attempts: Type.Integer(),
    error: Nullable(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    started_at: Nullable(Type.String({ format: 'date-time' })),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
  },
  { $id: 'Experiment' },
)

export const ExperimentId = Type.Object({ id: Type.String() })
export const ListExperimentsQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }), after: Type.Optional(Type.String()), state: Type.Optional(Type.String()) }, { additionalProperties: false })
export const ResultsQuery = Type.Object({ format: Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }) }, { additionalProperties: false })
export const ExperimentReportQuery = Type.Object({ format: Type.Union([Type.Literal('html'), Type.Literal('json'), Type.Literal('csv')], { default: 'html' }) }, { additionalProperties: false })
