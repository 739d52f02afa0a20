import { Type, type Static } from 'typebox'

export const DOMAINS = ['mathematics', 'coding', 'discoveries', 'leaderboards', 'events'] as const
export type Domain = (typeof DOMAINS)[number]
export const DomainSchema = Type.Union([Type.Literal('mathematics'), Type.Literal('coding'), Type.Literal('discoveries'), Type.Literal('leaderboards'), Type.Literal('events')])

const Options = Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { minItems: 4, maxItems: 4, description: 'Exactly four options.' })

/** One multiple-choice question about a news item (FORMAT.md). */
export const NewsQuestion = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
    type: Type.Union([Type.Literal('recall'), Type.Literal('implication')]),
    question: Type.String({ minLength: 1, maxLength: 10_000 }),
    options: Options,
    answer_index: Type.Integer({ minimum: 0, maximum: 3 }),
    answer_text: Type.String({ minLength: 1 }),
    explanation: Type.String({ default: '' }),
    check: Type.Optional(Type.Object({ expr: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
)

const QUESTIONS_PER_ITEM = { minItems: 1, maxItems: 100 }

/** One hypothetical news item with its questions (one JSONL line). */
export const NewsItem = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
    domain: DomainSchema,
    title: Type.String({ minLength: 1, maxLength: 500 }),
    date: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
    text: Type.String({ minLength: 1, maxLength: 20_000 }),
    check: Type.Optional(Type.Object({ defs: Type.Array(Type.String({ minLength: 1 })) }, { additionalProperties: false })),
    questions: Type.Array(NewsQuestion, QUESTIONS_PER_ITEM),
  },
  { additionalProperties: false },
)

/** A general-knowledge control question (no news). */
export const ControlQuestion = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
    subject: Type.String({ minLength: 1 }),
    type: Type.Union([Type.Literal('knowledge'), Type.Literal('reasoning')]),
    question: Type.String({ minLength: 1, maxLength: 10_000 }),
    options: Options,
    answer_index: Type.Integer({ minimum: 0, maximum: 3 }),
    answer_text: Type.String({ minLength: 1 }),
    explanation: Type.String({ default: '' }),
  },
  { additionalProperties: false },
)

// What an import accepts: the stored forms above with `answer_text` optional — `answer_index` already
// says which option is right, so the validator fills it in (and checks it when given).
const answerTextOptional = <P extends { answer_text: typeof NewsQuestion.properties.answer_text }>(p: P) => ({ ...p, answer_text: Type.Optional(p.answer_text) })
export const NewsQuestionInput = Type.Object(answerTextOptional(NewsQuestion.properties), { additionalProperties: false })
export const NewsItemInput = Type.Object({ ...NewsItem.properties, questions: Type.Array(NewsQuestionInput, QUESTIONS_PER_ITEM) }, { additionalProperties: false })
export const ControlQuestionInput = Type.Object(answerTextOptional(ControlQuestion.properties), { additionalProperties: false })

export type NewsQuestion = Static<typeof NewsQuestion>
export type NewsItem = Static<typeof NewsItem>
export type ControlQuestion = Static<typeof ControlQuestion>
export type AnyQuestion = NewsQuestion | ControlQuestion
