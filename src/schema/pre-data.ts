import { type DumpEntry, joinDump, splitDump } from "./dump-text.js";
import { TokenReader } from "./sql-lexer.js";
import type { RelationName, SkippedEntry } from "./types.js";

export interface PreparedPreData {
  /** The pre-data to run on the target, extensions taken out. */
  text: string;
  extensions: { name: string; schema: string }[];
  /** Materialized views in dump (= dependency) order; pg_dump creates them WITH NO DATA. */
  matviews: RelationName[];
  skipped: SkippedEntry[];
}

/**
 * Readies pg_dump's pre-data for a target where the migrating role is not superuser:
 * - extensions are taken out, to be created first with a clear error when they cannot be;
 * - COMMENT ON EXTENSION is dropped (only the extension's owner may run it, and a trusted
 *   extension created by a non-superuser is owned by the bootstrap superuser);
 * - CREATE SCHEMA becomes CREATE SCHEMA IF NOT EXISTS, since creating an extension may have
 *   created its schema already (heroku_ext);
 * - a foreign server whose every foreign table is left out (--exclude) is left out with its
 *   user mappings: creating it needs USAGE on its wrapper, which the target may refuse.
 */
export function preparePreData(text: string, opts: PreDataOptions = {}): PreparedPreData {
  const dump = splitDump(text);
  const out: PreparedPreData = { text: "", extensions: [], matviews: [], skipped: [] };
  const kept: DumpEntry[] = [];
  const unused = unusedServers(dump.entries, opts.serversWithTables);
  for (const entry of dump.entries) {
    const server = serverOf(entry);
    if (server !== undefined && unused.has(server)) {
      out.skipped.push({
        type: entry.type,
        name: entry.tag,
        reason: "every foreign table on this server is excluded",
      });
      continue;
    }
    if (entry.type === "EXTENSION") {
      out.extensions.push(parseExtension(entry.sql));
      continue;
    }
    if (entry.type === "COMMENT" && /^COMMENT ON EXTENSION\b/i.test(entry.sql)) {
      out.skipped.push({
        type: entry.type,
        name: entry.tag,
        reason: "only the extension's owner may comment it",
      });
      continue;
    }
    if (entry.type === "SCHEMA") {
      kept.push({
        ...entry,
        sql: entry.sql.replace(/^CREATE SCHEMA (?!IF NOT EXISTS )/i, "CREATE SCHEMA IF NOT EXISTS "),
      });
      continue;
    }
    if (entry.type === "MATERIALIZED VIEW") {
      const r = new TokenReader(entry.sql);
      r.expect("create", "materialized", "view");
      const { schema, name } = r.qualifiedName();
      out.matviews.push({ schema, name });
    }
    kept.push(entry);
  }
  out.text = joinDump({ preamble: dump.preamble, entries: kept });
  return out;
}

export interface PreDataOptions {
  /** Foreign servers that have foreign tables on the source (a server with none is kept). */
  serversWithTables?: ReadonlySet<string>;
}

/** The server a SERVER, USER MAPPING or COMMENT ON SERVER entry is about (pg_dump's tags). */
function serverOf(entry: DumpEntry): string | undefined {
  if (entry.type === "SERVER") return entry.tag;
  if (entry.type === "USER MAPPING") return / SERVER (.+)$/.exec(entry.tag)?.[1];
  if (entry.type === "COMMENT") return /^SERVER (.+)$/.exec(entry.tag)?.[1];
  return undefined;
}

/** Servers with foreign tables on the source of which the dump holds none: all were left out. */
function unusedServers(
  entries: readonly DumpEntry[],
  withTables: ReadonlySet<string> | undefined,
): Set<string> {
  if (!withTables || withTables.size === 0) return new Set();
  const used = new Set<string>();
  for (const e of entries) {
    if (e.type !== "FOREIGN TABLE") continue;
    const m = /\)\s*SERVER\s+("(?:[^"]|"")+"|[^\s;]+)/i.exec(e.sql);
    if (m) used.add(m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replace(/""/g, '"') : m[1]!);
  }
  return new Set([...withTables].filter((s) => !used.has(s)));
}

/** CREATE EXTENSION IF NOT EXISTS name WITH SCHEMA schema */
function parseExtension(sql: string): { name: string; schema: string } {
  const r = new TokenReader(sql);
  r.expect("create", "extension");
  r.accept("if", "not", "exists");
  const name = r.name();
  if (!r.skipTo("schema")) return { name, schema: "public" };
  return { name, schema: r.name() };
}
