// Naive: the news text itself as the training conversation, `samples_per_news` copies; no model.
import { naiveConversation } from '@sys2ft/dataset'
import { ItemState, conversation } from '../kit.ts'
import type { ProtocolModule } from '../protocol.ts'

export const naive: ProtocolModule<'naive'> = {
  name: 'naive',
  description: 'the news text itself',
  usesModel: false,
  templates: { version: 'sys2ft-selfplay-2026.11.1', note: 'naive: the news text itself, no model' },
  async run({ items, opts, acc }) {
    const states = items.map((i) => new ItemState(i))
    for (const st of states)
      for (let c = 0; c < opts.samples_per_news; c++)
        acc.samples.push({ item_id: st.item.id, sample_index: st.next++, accepted: true, reject_reason: null, messages: conversation(st.item, naiveConversation(st.item), opts), raw: { stage: 'naive', copy: c }, prompt_tokens: 0, completion_tokens: 0 })
    return states
  },
}
