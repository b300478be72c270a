import pg from "pg";

/** Quotes one identifier with node-postgres's own escaping. */
export function ident(name: string): string {
  return pg.escapeIdentifier(name);
}

/** schema.table, each part quoted. */
export function qualified(schema: string, name: string): string {
  return `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`;
}

/** A literal for the rare places a value cannot be a parameter (COPY, DDL). */
export function literal(value: string): string {
  return pg.escapeLiteral(value);
}

export function identList(names: readonly string[]): string {
  return names.map((n) => pg.escapeIdentifier(n)).join(", ");
}
