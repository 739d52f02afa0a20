// What the rest of the product sees of the protocols (the generation service's routes and runner,
// the evaluation service's experiment spec, the CLI).
export { PROTOCOLS, PROTOCOL_OPTIONS, ProtocolSchema, REGISTRY, protocolModule, type Protocol } from './registry.ts'
export type { ProtocolModule } from './protocol.ts'
export { generateChunk } from './generate.ts'
export { VERIFY_OPTIONS, VERIFY_TEMPLATES } from './verify.ts'
export type { ChunkResult, Generate, GenerationOptions, NewsInput, SampleOut } from './kit.ts'
