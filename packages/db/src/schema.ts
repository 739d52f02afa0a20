import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** A timestamptz column: read as a Date, written as a Date or an ISO string, defaulted by the database. */
export type CreatedAt = ColumnType<Date, Date | string | undefined, never>
export type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>
export type Timestamp = ColumnType<Date, Date | string, Date | string>
/** jsonb: kysely passes objects through pg, which serialises them. */
export type Json<T> = ColumnType<T, T | string, T | string>

/** Owner: each service, for its own rows (scoped by `service`). Replays of POSTs with an Idempotency-Key. */
export interface IdempotencyKeysTable {
  service: string
  key: string
  request_hash: string
  status_code: number
  response_body: Json<unknown>
  response_headers: Json<Record<string, string>>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** `news`: news items with questions; `control`: general-knowledge questions without news. */
export type NewsSetKind = 'news' | 'control'
export type Domain = 'mathematics' | 'coding' | 'discoveries' | 'leaderboards' | 'events'
export type QuestionType = 'recall' | 'implication' | 'knowledge' | 'reasoning'

/** Owner: generation service. A named, versioned set of news items (or of control questions). */
export interface NewsSetsTable {
  id: string
  name: string
  description: string
  kind: NewsSetKind
  version: string
  /** Shipped with the product and seeded at start: read-only. */
  builtin: boolean
  item_count: number
  question_count: number
  content_sha256: string
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** Owner: generation service. One hypothetical news item. */
export interface NewsItemsTable {
  id: string
  set_id: string
  key: string
  position: number
  domain: Domain
  title: string
  date: string
  text: string
  check: Json<{ defs: string[] } | null>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** Owner: generation service. A multiple-choice question, about a news item or (control set) about nothing new. */
export interface QuestionsTable {
  id: string
  set_id: string
  item_id: string | null
  key: string
  position: number
  type: QuestionType
  subject: string | null
  question: string
  options: Json<string[]>
  answer_index: number
  answer_text: string
  explanation: string
  check: Json<{ expr: string } | null>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** The one schema the three services share. */
export interface Database {
  idempotency_keys: IdempotencyKeysTable
  news_sets: NewsSetsTable
  news_items: NewsItemsTable
  questions: QuestionsTable
}

export type NewsSetRow = Selectable<NewsSetsTable>
export type NewNewsSet = Insertable<NewsSetsTable>
export type NewsItemRow = Selectable<NewsItemsTable>
export type NewNewsItem = Insertable<NewsItemsTable>
export type QuestionRow = Selectable<QuestionsTable>
export type NewQuestion = Insertable<QuestionsTable>
export type NewsSetUpdate = Updateable<NewsSetsTable>
export type { Generated }
