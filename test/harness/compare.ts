import type pg from "pg";
import { connect, parseConnUrl, qualified } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";

/**
 * Full-content comparison of two databases for tests: every physical user table (relkind 'r',
 * so leaf partitions and inheritance children each count once, read with ONLY), outside the
 * system schemas and pgferry's own, as the canonical row text (`t::text` under pgferry's
 * canonical session settings: UTC, ISO dates, extra_float_digits=3, hex bytea), sorted
 * byte-wise. Throws an Error naming the first differing tables and rows.
 */
export interface CompareOptions {
  /** Only these tables ("schema.name", unquoted). Default: every user table of the source. */
  tables?: string[];
  /** Tables to leave out ("schema.name"). */
  exclude?: string[];
  /** Schemas left out besides pg_catalog, information_schema, pg_toast*, pgferry. Default: heroku_ext. */
  skipSchemas?: string[];
}

const TABLES_SQL = `
select n.nspname as schema, c.relname as name
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind = 'r' and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
 order by 1, 2`;

async function open(db: LocalDatabase): Promise<pg.Client> {
  return connect(parseConnUrl(db.url, "local"), { stage: "verify", statementTimeoutMs: 120_000 });
}

/** "schema.name" of every physical user table (leaf partitions included). */
export async function listUserTables(db: LocalDatabase, opts: CompareOptions = {}): Promise<string[]> {
  const client = await open(db);
  try {
    return await tablesOf(client, opts);
  } finally {
    await client.end();
  }
}

/** "schema.name" → its two parts, for names read from a catalog (a schema's name may hold a dot). */
const PARTS = new Map<string, [string, string]>();

async function tablesOf(client: pg.Client, opts: CompareOptions): Promise<string[]> {
  const skip = ["pg_catalog", "information_schema", "pgferry", ...(opts.skipSchemas ?? ["heroku_ext"])];
  const { rows } = await client.query<{ schema: string; name: string }>(TABLES_SQL, [skip]);
  for (const r of rows) PARTS.set(`${r.schema}.${r.name}`, [r.schema, r.name]);
  return rows.map((r) => `${r.schema}.${r.name}`);
}

function splitName(table: string): [string, string] {
  const known = PARTS.get(table);
  if (known) return known;
  const dot = table.indexOf(".");
  return [table.slice(0, dot), table.slice(dot + 1)];
}

/** Every row of one table as canonical text, sorted byte-wise (collation-independent). */
export async function tableRows(client: pg.ClientBase, table: string): Promise<string[]> {
  const [schema, name] = splitName(table);
  const { rows } = await client.query<{ r: string }>(
    `select t::text as r from only ${qualified(schema, name)} t order by t::text collate "C"`,
  );
  return rows.map((x) => x.r);
}

function firstDifferences(a: string[], b: string[], max = 3): string[] {
  const inA = new Map<string, number>();
  for (const r of a) inA.set(r, (inA.get(r) ?? 0) + 1);
  const onlyB: string[] = [];
  for (const r of b) {
    const n = inA.get(r) ?? 0;
    if (n > 0) inA.set(r, n - 1);
    else onlyB.push(r);
  }
  const onlyA = [...inA].flatMap(([r, n]) => Array<string>(n).fill(r));
  const cut = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…(${s.length} chars)` : s);
  return [
    ...onlyA.slice(0, max).map((r) => `  only in source: ${cut(r)}`),
    ...onlyB.slice(0, max).map((r) => `  only in target: ${cut(r)}`),
  ];
}

/**
 * Asserts that target holds exactly the source's rows in every (selected) table, and that no
 * selected table is missing on the target.
 */
export async function assertSameContents(
  source: LocalDatabase,
  target: LocalDatabase,
  opts: CompareOptions = {},
): Promise<void> {
  const src = await open(source);
  const tgt = await open(target);
  try {
    const exclude = new Set(opts.exclude ?? []);
    const tables = (opts.tables ?? (await tablesOf(src, opts))).filter((t) => !exclude.has(t));
    const targetTables = new Set(await tablesOf(tgt, opts));
    const problems: string[] = [];
    for (const table of tables) {
      if (!targetTables.has(table)) {
        problems.push(`${table}: missing on the target`);
        continue;
      }
      const a = await tableRows(src, table);
      const b = await tableRows(tgt, table);
      if (a.length === b.length && a.every((r, i) => r === b[i])) continue;
      problems.push(`${table}: source ${a.length} rows, target ${b.length} rows`, ...firstDifferences(a, b));
    }
    if (problems.length > 0) throw new Error(`Tables differ:\n${problems.join("\n")}`);
  } finally {
    await src.end();
    await tgt.end();
  }
}
