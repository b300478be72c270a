import { sqlIdent } from "../db/index.js";

export { formatBytes } from "../progress/units.js";
export { sqlIdent };

/** schema.name for a fix the user pastes into psql. */
export function sqlName(schema: string, name: string): string {
  return `${sqlIdent(schema)}.${sqlIdent(name)}`;
}

/** "1 table", "3 tables". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}
