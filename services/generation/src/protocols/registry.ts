// The one list of protocols. Adding one: its folder (`protocols/<name>/index.ts` exporting a
// ProtocolModule) and one line here; the HTTP schema, the experiment spec, the CLI's choices and the
// OpenAPI documents follow.
import { LiteralUnion } from '@sys2ft/service-kit'
import { activeReading } from './active_reading/index.ts'
import { contextDistillation } from './context_distillation/index.ts'
import { entigraph } from './entigraph/index.ts'
import { implication } from './implication/index.ts'
import { naive } from './naive/index.ts'
import { paraphrase } from './paraphrase/index.ts'
import type { ProtocolModule } from './protocol.ts'
import { selfQa } from './self_qa/index.ts'

export const REGISTRY = {
  naive,
  paraphrase,
  implication,
  self_qa: selfQa,
  active_reading: activeReading,
  entigraph,
  context_distillation: contextDistillation,
} as const satisfies { [Name in string]: ProtocolModule<Name> }

export type Protocol = keyof typeof REGISTRY
export const PROTOCOLS = Object.keys(REGISTRY) as Protocol[]

export const protocolModule = (name: Protocol): ProtocolModule => REGISTRY[name]

/** The `protocol` field's schema: one literal per registered protocol, each described. */
export const ProtocolSchema = LiteralUnion(PROTOCOLS, { description: PROTOCOLS.map((name) => `\`${name}\`: ${REGISTRY[name].description}.`).join(' ') })

type Module = (typeof REGISTRY)[Protocol]
type Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never
type OptionsOf<M> = M extends { options: infer O } ? O : never
type ProtocolOptions = Intersection<OptionsOf<Module>>

/** Options some protocols add to the shared generation options, from their modules (typed, for the schema). */
export const PROTOCOL_OPTIONS = Object.assign({}, ...PROTOCOLS.map((name) => (REGISTRY[name] as ProtocolModule).options ?? {})) as ProtocolOptions
