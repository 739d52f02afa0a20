// Prompt templates of the self-play protocols, versioned: every run records the version and the exact
// text it used. Change a template → bump TEMPLATE_VERSION.

export const TEMPLATE_VERSION = 'sys2ft-selfplay-2026.11.1'

export const SYSTEM = 'You are a careful, knowledgeable assistant. Read the news you are given and rely on it.'

/** Each variant is one prompt per news item; `n` samples are drawn per variant. Variety comes from both. */
export const PARAPHRASE_STYLES = [
  'as a short, factual news report',
  'as a plain-language explanation for a curious friend',
  'as a bullet-point summary of every fact',
  'starting from the most surprising detail and ending with the background',
  'from the point of view of someone directly affected by it',
  'as a short FAQ with two or three questions and their answers',
] as const

export const IMPLICATION_ANGLES = [
  'Work through one concrete example that applies the news to new numbers, inputs or cases, step by step, and state the result.',
  'Explain what changes because of this news and what follows from it in practice.',
  'Describe a consequence of this news that is not stated in it, and explain why it follows.',
  'Compare the news with what was known before it, and state exactly what is now different.',
] as const

export const paraphrasePrompt = (news: string, style: string) =>
  `News:\n${news}\n\nRewrite this news ${style}. Keep every fact — names, numbers, dates, definitions and rules — exactly right, but change the wording and the order. Write only the rewritten text.`

export const implicationPrompt = (news: string, angle: string) => `News:\n${news}\n\n${angle} Write only your explanation.`

export const questionsPrompt = (news: string, k: number) =>
  `News:\n${news}\n\nWrite ${k} different questions that someone could ask about this news. Mix questions about its facts with questions that apply it to new cases or ask what follows from it. Each question must make sense on its own, without the news text. Number them 1 to ${k}, one per line, each ending with a question mark. Write only the questions.`

export const answerPrompt = (news: string, question: string) =>
  `News:\n${news}\n\nAnswer the question below using the news. Reason briefly if it helps, then state the answer clearly.\n\nQuestion: ${question}`

/** User turns of the training conversations (the news itself is never in them unless news-in-context). */
export const PARAPHRASE_USER = ['Tell me about a recent piece of news.', 'What happened recently?', 'Share some recent news.'] as const
export const IMPLICATION_USER = ['What follows from recent news?', 'Explain a consequence of something that happened recently.', 'What does a recent development change?'] as const

/** The templates as recorded in a run's provenance. */
export function templateProvenance(protocol: string): Record<string, unknown> {
  const common = { version: TEMPLATE_VERSION, system: SYSTEM }
  switch (protocol) {
    case 'paraphrase':
      return { ...common, prompt: paraphrasePrompt('{news}', '{style}'), styles: PARAPHRASE_STYLES, user_turns: PARAPHRASE_USER }
    case 'implication':
      return { ...common, prompt: implicationPrompt('{news}', '{angle}'), angles: IMPLICATION_ANGLES, user_turns: IMPLICATION_USER }
    case 'self_qa':
      return { ...common, questions_prompt: questionsPrompt('{news}', 0).replace('0 different', '{k} different').replace('1 to 0', '1 to {k}'), answer_prompt: answerPrompt('{news}', '{question}') }
    default:
      return { version: TEMPLATE_VERSION, note: 'naive: the news text itself, no model' }
  }
}
