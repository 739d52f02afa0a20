// The `protocols` preset's generation prompts and naive conversations for every shipped news item,
// built by the protocol modules' own template functions, as JSON on stdout for
// bench/scale/tokens.py (docs/scale.md): npx tsx bench/scale/prompts.ts > /tmp/prompts.json
import { loadBuiltin, naiveConversation, newsBlock } from '@sys2ft/dataset'
import { SYSTEM } from '../../services/generation/src/protocols/kit.ts'
import { STYLES, prompt as paraphrasePrompt } from '../../services/generation/src/protocols/paraphrase/index.ts'
import { ANGLES, prompt as implicationPrompt } from '../../services/generation/src/protocols/implication/index.ts'
import { answerPrompt, questionsPrompt } from '../../services/generation/src/protocols/self_qa/index.ts'
import { BASE_DEFAULTS } from '../../services/evaluation/src/experiments/spec.ts'

const k = BASE_DEFAULTS.generation.questions_per_call
const items = loadBuiltin().news.map((item) => {
  const news = newsBlock(item)
  return {
    id: item.id,
    naive: naiveConversation(item),
    paraphrase: STYLES.map((s) => paraphrasePrompt(news, s)),
    implication: ANGLES.map((a) => implicationPrompt(news, a)),
    self_qa_questions: questionsPrompt(news, k),
    // the answer prompt around a stand-in question (the real ones are the model's)
    self_qa_answer: answerPrompt(news, item.questions[0]!.question),
  }
})
process.stdout.write(JSON.stringify({ system: SYSTEM, generation: BASE_DEFAULTS.generation, training: BASE_DEFAULTS.training, items }))
