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

// PostgreSQL's reserved key words (the ones quote_ident quotes although they are lower case).
const RESERVED = new Set(
  `all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate collation
   column concurrently constraint create cross current_catalog current_date current_role current_schema current_time
   current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign freeze
   from full grant group having ilike in initially inner intersect into is isnull join lateral leading left like limit
   localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing primary references
   returning right select session_user similar some symmetric system_user table tablesample then to trailing true union
   unique user using variadic verbose when where window with`.split(/\s+/),
);

/** An identifier as a person would type it: quoted only when PostgreSQL needs the quotes. */
export function sqlIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name) ? name : ident(name);
}
