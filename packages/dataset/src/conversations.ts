import type { NewsItem } from './schema.ts'

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

/** The news as the model should read it in context (ICL evaluation, self-play prompts). */
export function newsBlock(item: Pick<NewsItem, 'title' | 'date' | 'text'>): string {
  return `${item.title} (${item.date})\n${item.text}`
}

/**
 * The naive fine-tuning baseline: the news text itself as training data. A short request and the
 * news as the answer, so training on assistant tokens learns the text (the research's naive FT).
 */
export function naiveConversation(item: Pick<NewsItem, 'title' | 'date' | 'text'>): ChatMessage[] {
  return [
    { role: 'user', content: `What is the news "${item.title}"?` },
    { role: 'assistant', content: newsBlock(item) },
  ]
}
