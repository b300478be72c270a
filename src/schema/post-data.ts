import { constraintAsIndex } from "./constraint-index.js";
import { type DumpEntry, splitDump } from "./dump-text.js";
import { type QualifiedName, splitStatements, TokenReader } from "./sql-lexer.js";
import {
  type PostDataItem,
  type PostDataKind,
  type RelationName,
  relationKey,
  type SkippedEntry,
} from "./types.js";

/** What the classifier needs to know about the source beyond the dump text. */
export interface ClassifyContext {
  /** "schema.name" of every partition (any depth) → its top-level partitioned table. */
  partitionRoot: ReadonlyMap<string, RelationName>;
  /** "schema.name" of every materialized view. */
  matviews: ReadonlySet<string>;
  /** "schema.name" of the tables left out of the migration (and their partitions). */
  excluded: ReadonlySet<string>;
}

export interface ClassifiedPostData {
  items: PostDataItem[];
  skipped: SkippedEntry[];
  warnings: string[];
}

/** Triggers pgferry installs on the source; never copied to the target. */
export const PGFERRY_TRIGGER_PREFIX = "pgferry_";

interface Parsed {
  kind: PostDataKind;
  name: string;
  relation: RelationName | null;
  /** Overrides the default stage (which follows from the kind). */
  stage?: "index" | "cutover";
  skip?: string;
}

/**
 * Splits post-data text into items and decides, for each, what it is and when it is built.
 * Keys, unique constraints and indexes are built right after their table's copy (the stream
 * needs the key; unique constraints cost the most to build at cutover). Exclusion constraints
 * and extended statistics go with them. Foreign keys, triggers, rules, policies, row
 * security, NOT VALID checks and comments wait for cutover: before it they would reject or
 * rewrite rows that the copy and the replay write in no particular order, or fire user logic
 * on replicated writes.
 */
export function classifyPostData(text: string, ctx: ClassifyContext): ClassifiedPostData {
  const out: ClassifiedPostData = { items: [], skipped: [], warnings: [] };
  const indexOwner = new Map<string, RelationName>();
  for (const entry of splitDump(text).entries) {
    const statement = cleanStatements(entry.sql);
    if (!statement) continue;
    let parsed: Parsed;
    try {
      parsed = parseEntry(entry, statement, indexOwner, ctx);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      out.warnings.push(
        `Could not read the ${entry.type} entry "${entry.tag}" (${err.message}); it will be applied as dumped at cutover.`,
      );
      parsed = { kind: "other", name: entry.tag, relation: null, stage: "cutover" };
    }
    if (parsed.skip !== undefined) {
      if (parsed.skip) out.skipped.push({ type: entry.type, name: entry.tag, reason: parsed.skip });
      continue;
    }
    const root = parsed.relation
      ? (ctx.partitionRoot.get(relationKey(parsed.relation)) ?? parsed.relation)
      : null;
    if (root && ctx.excluded.has(relationKey(root))) {
      out.skipped.push({
        type: entry.type,
        name: entry.tag,
        reason: `${relationKey(root)} is excluded from the migration`,
      });
      continue;
    }
    out.items.push(toItem(entry, statement, parsed, ctx));
  }
  return out;
}

function toItem(entry: DumpEntry, statement: string, p: Parsed, ctx: ClassifyContext): PostDataItem {
  const root = p.relation ? (ctx.partitionRoot.get(relationKey(p.relation)) ?? p.relation) : null;
  const onMatview = p.relation !== null && ctx.matviews.has(relationKey(p.relation));
  const table = root && !onMatview ? root : null;
  let stage = p.stage ?? (["primary_key", "unique", "index"].includes(p.kind) ? "index" : "cutover");
  if (!table) stage = "cutover";
  const conversion =
    (p.kind === "primary_key" || p.kind === "unique") && entry.type === "CONSTRAINT"
      ? constraintAsIndex(statement)
      : undefined;
  return {
    kind: p.kind,
    name: p.name,
    schema: entry.schema || p.relation?.schema || "",
    table: table?.name ?? null,
    tableSchema: table?.schema ?? null,
    relation: p.relation,
    statement,
    stage,
    dumpType: entry.type,
    indexStatement: conversion?.indexStatement ?? null,
    constraintStatement: conversion?.constraintStatement ?? null,
  };
}

/** The entry's statements without the session SETs pg_dump interleaves between entries. */
function cleanStatements(sql: string): string {
  return splitStatements(sql)
    .filter((s) => !/^SET\s+default_(tablespace|table_access_method)\b/i.test(s))
    .map((s) => `${s};`)
    .join("\n\n");
}

function parseEntry(
  entry: DumpEntry,
  sql: string,
  indexOwner: Map<string, RelationName>,
  ctx: ClassifyContext,
): Parsed {
  const r = new TokenReader(sql);
  switch (entry.type) {
    case "CONSTRAINT":
    case "CHECK CONSTRAINT":
    case "FK CONSTRAINT":
      return parseConstraint(entry, r, indexOwner, ctx.excluded);
    case "INDEX": {
      r.expect("create");
      r.accept("unique");
      r.expect("index");
      const name = r.name();
      r.expect("on");
      r.accept("only");
      const relation = plain(r.qualifiedName());
      indexOwner.set(relationKey({ schema: entry.schema, name }), relation);
      return { kind: "index", name, relation };
    }
    case "INDEX ATTACH": {
      r.expect("alter", "index");
      r.qualifiedName();
      r.expect("attach", "partition");
      const child = r.qualifiedName();
      return { kind: "index", name: child.name, relation: indexOwner.get(relationKey(child)) ?? null };
    }
    case "TRIGGER":
      return parseTrigger(r);
    case "POLICY":
      return onClause(r, ["create", "policy"], "on");
    case "RULE":
      return onClause(r, ["create", "rule"], "to");
    case "ROW SECURITY": {
      r.expect("alter", "table");
      r.accept("only");
      return { kind: "other", name: "row level security", relation: plain(r.qualifiedName()) };
    }
    case "STATISTICS": {
      r.expect("create", "statistics");
      const name = r.qualifiedName().name;
      if (!r.skipTo("from")) throw new SyntaxError("expected FROM");
      return { kind: "other", name, relation: plain(r.qualifiedName()), stage: "index" };
    }
    case "COMMENT":
      return parseComment(entry, r, indexOwner);
    case "EVENT TRIGGER":
      return { kind: "other", name: entry.tag, relation: null, skip: "event triggers need a superuser" };
    case "PUBLICATION":
    case "PUBLICATION TABLE":
    case "PUBLICATION TABLES IN SCHEMA":
    case "SUBSCRIPTION":
      return { kind: "other", name: entry.tag, relation: null, skip: "replication objects are not migrated" };
    default:
      return { kind: "other", name: entry.tag, relation: null };
  }
}

function parseConstraint(
  entry: DumpEntry,
  r: TokenReader,
  indexOwner: Map<string, RelationName>,
  excluded: ReadonlySet<string>,
): Parsed {
  r.expect("alter", "table");
  r.accept("only");
  const relation = plain(r.qualifiedName());
  r.expect("add", "constraint");
  const name = r.name();
  if (entry.type === "FK CONSTRAINT") {
    if (!r.skipTo("references")) throw new SyntaxError("expected REFERENCES");
    const referenced = plain(r.qualifiedName());
    if (excluded.has(relationKey(referenced))) {
      const skip = `references ${relationKey(referenced)}, which is excluded from the migration`;
      return { kind: "foreign_key", name, relation, skip };
    }
    return { kind: "foreign_key", name, relation };
  }
  if (entry.type === "CHECK CONSTRAINT") return { kind: "other", name, relation, stage: "cutover" };
  indexOwner.set(relationKey({ schema: relation.schema, name }), relation);
  if (r.accept("primary", "key")) return { kind: "primary_key", name, relation };
  if (r.accept("unique")) return { kind: "unique", name, relation };
  // EXCLUDE (an index-backed constraint with no USING INDEX form) and anything newer.
  return { kind: "other", name, relation, stage: r.peekWord() === "exclude" ? "index" : "cutover" };
}

function parseTrigger(r: TokenReader): Parsed {
  r.expect("create");
  r.accept("or", "replace");
  r.accept("constraint");
  r.expect("trigger");
  const name = r.name();
  if (name.startsWith(PGFERRY_TRIGGER_PREFIX)) return { kind: "trigger", name, relation: null, skip: "" };
  if (!r.skipTo("on")) throw new SyntaxError("expected ON");
  return { kind: "trigger", name, relation: plain(r.qualifiedName()) };
}

/** CREATE POLICY name ON rel / CREATE RULE name AS ON event TO rel. */
function onClause(r: TokenReader, head: string[], before: string): Parsed {
  r.expect(...head);
  const name = r.name();
  if (!r.skipTo(before)) throw new SyntaxError(`expected ${before.toUpperCase()}`);
  return { kind: "other", name, relation: plain(r.qualifiedName()) };
}

function parseComment(entry: DumpEntry, r: TokenReader, indexOwner: Map<string, RelationName>): Parsed {
  r.expect("comment", "on");
  const what = r.peekWord();
  if (what === "index") {
    r.expect("index");
    const idx = r.qualifiedName();
    return { kind: "other", name: entry.tag, relation: indexOwner.get(relationKey(idx)) ?? null };
  }
  if (what === "constraint" || what === "trigger" || what === "policy" || what === "rule") {
    r.expect(what);
    r.name();
    r.expect("on");
    r.accept("domain");
    return { kind: "other", name: entry.tag, relation: plain(r.qualifiedName()) };
  }
  return { kind: "other", name: entry.tag, relation: null };
}

function plain(q: QualifiedName): RelationName {
  return { schema: q.schema, name: q.name };
}
