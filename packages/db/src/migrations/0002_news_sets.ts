import { sql, type Kysely } from 'kysely'

/**
 * The New News dataset. Owner of all three tables: the generation service (it imports, seeds and
 * deletes sets); training and evaluation read them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('news_sets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('news', 'control')`))
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('builtin', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('item_count', 'integer', (c) => c.notNull())
    .addColumn('question_count', 'integer', (c) => c.notNull())
    .addColumn('content_sha256', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()

  await db.schema
    .createTable('news_items')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('set_id', 'text', (c) => c.notNull().references('news_sets.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('domain', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('date', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('check', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('news_items_set_key', ['set_id', 'key'])
    .execute()
  await db.schema.createIndex('news_items_set_position').on('news_items').columns(['set_id', 'position']).execute()

  await db.schema
    .createTable('questions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('set_id', 'text', (c) => c.notNull().references('news_sets.id').onDelete('cascade'))
    .addColumn('item_id', 'text', (c) => c.references('news_items.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('recall', 'implication', 'knowledge', 'reasoning')`))
    .addColumn('subject', 'text')
    .addColumn('question', 'text', (c) => c.notNull())
    .addColumn('options', 'jsonb', (c) => c.notNull())
    .addColumn('answer_index', 'integer', (c) => c.notNull())
    .addColumn('answer_text', 'text', (c) => c.notNull())
    .addColumn('explanation', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('check', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('questions_set_key', ['set_id', 'key'])
    .execute()
  await db.schema.createIndex('questions_item').on('questions').columns(['item_id', 'position']).execute()
  await db.schema.createIndex('questions_set_position').on('questions').columns(['set_id', 'position']).execute()
}
