import { uuidv7 } from 'uuidv7'

/** Opaque, creation-time sortable ids with a type prefix: `gen_0192f…`. */
export function newId(prefix: string): string {
  return `${prefix}_${uuidv7().replaceAll('-', '')}`
}

/** Whether `id` has the shape of an id of this type; a wrong prefix is then answered 404, not 500. */
export function isId(prefix: string, id: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-f]{32}$`).test(id)
}
