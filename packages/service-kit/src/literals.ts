import { Type, type TSchemaOptions, type TLiteral, type TUnion } from 'typebox'

/**
 * A union of string literals from a list declared once elsewhere (the protocol registry, the
 * presets): in the JSON schema one `const` per value, in TypeScript the union of the values.
 * (TypeBox types a union of a computed array as `never`; the cast says what it validates.)
 */
export function LiteralUnion<const T extends readonly string[]>(values: T, options?: TSchemaOptions): TUnion<[TLiteral<T[number]>]> {
  return Type.Union(values.map((v) => Type.Literal(v)), options) as unknown as TUnion<[TLiteral<T[number]>]>
}
