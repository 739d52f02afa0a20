import { Type, type Static, type TSchema } from 'typebox'

export const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size.' }),
    after: Type.Optional(Type.String({ description: 'Cursor: the next_cursor of the previous page.' })),
  },
  { additionalProperties: false },
)
export type ListQueryType = Static<typeof ListQuery>

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ data: Type.Array(item), has_more: Type.Boolean(), next_cursor: Type.Union([Type.String(), Type.Null()]) })

/** Build a page from rows fetched with `limit + 1` (the extra row only says there is more). */
export function toPage<R extends { id: string }, O>(rows: R[], limit: number, map: (r: R) => O) {
  const has_more = rows.length > limit
  const data = rows.slice(0, limit)
  return { data: data.map(map), has_more, next_cursor: has_more ? data[data.length - 1]!.id : null }
}
