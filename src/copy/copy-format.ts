/**
 * COPY's binary format between the two servers, when every copied column is of a type whose
 * binary form any later PostgreSQL reads back to the same value (decisions.md, "Binary COPY
 * for built-in types, text otherwise"). The binary form skips the text output and input
 * functions on both servers (dates, timestamps, numerics, uuids are parsed no more) and is
 * exact by construction (floats, money). Anything else — enums, domains, composites, extension
 * types, arrays of them — goes as text: their binary forms carry type OIDs (arrays, records)
 * that differ from one database to the next, or are defined by code pgferry cannot vouch for.
 */
export type CopyFormat = "binary" | "text";

/**
 * Base types (format_type() spelling, typmod and array brackets removed) whose send/receive
 * format is the same on PostgreSQL 12 to 17. Not here: the reg* types (their binary form is
 * an OID, which names a different object on another server), types without a binary form
 * (aclitem), and types pg_catalog creates only on some versions (multiranges, pg_snapshot,
 * xid8), which a table moving between those versions may not rely on.
 */
const BINARY_SAFE = new Set([
  "smallint",
  "integer",
  "bigint",
  "real",
  "double precision",
  "numeric",
  "money",
  "boolean",
  '"char"',
  "character",
  "bpchar",
  "character varying",
  "text",
  "name",
  "bytea",
  "date",
  "time without time zone",
  "time with time zone",
  "timestamp without time zone",
  "timestamp with time zone",
  "interval",
  "uuid",
  "json",
  "jsonb",
  "jsonpath",
  "xml",
  "inet",
  "cidr",
  "macaddr",
  "macaddr8",
  "bit",
  "bit varying",
  "point",
  "line",
  "lseg",
  "box",
  "path",
  "polygon",
  "circle",
  "tsvector",
  "tsquery",
  "oid",
  "pg_lsn",
  "txid_snapshot",
  "int4range",
  "int8range",
  "numrange",
  "tsrange",
  "tstzrange",
  "daterange",
]);

/**
 * The base type of a format_type() spelling: "numeric(12,2)[]" → "numeric",
 * "timestamp(3) with time zone" → "timestamp with time zone", "interval day to second(3)" →
 * "interval". A user type is spelled with its schema or quotes whenever a built-in name would
 * hide it, so it never matches a built-in name here.
 */
export function baseTypeName(formatted: string): string {
  let t = formatted.trim();
  while (t.endsWith("[]")) t = t.slice(0, -2);
  t = t
    .replace(/\(\d+(,\d+)?\)/g, "")
    .replace(/\s+/g, " ")
    .trim();
  if (/^interval( (year|month|day|hour|minute|second)( to (month|hour|minute|second))?)?$/.test(t))
    return "interval";
  return t;
}

export function binarySafeType(formatted: string): boolean {
  return BINARY_SAFE.has(baseTypeName(formatted));
}

/** Binary when every column COPY carries is of a binary-safe type; text otherwise (the whole table). */
export function copyFormat(columns: readonly { type: string }[]): CopyFormat {
  return columns.length > 0 && columns.every((c) => binarySafeType(c.type)) ? "binary" : "text";
}

/** The WITH clause of both COPY statements of a chunk. */
export function copyOptions(format: CopyFormat): string {
  return format === "binary" ? " (format binary)" : "";
}
