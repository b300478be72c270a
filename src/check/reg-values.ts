import type pg from "pg";
import type { SourceTable } from "../catalog/index.js";
import { qualified } from "../db/index.js";
import { plural, sqlIdent } from "./format.js";
import { type Findings, nameList, tableName } from "./types.js";

/**
 * The OID alias types. COPY writes their values as names and the target reads them back by
 * name, so a value naming a role or object the target lacks fails the copy of its table
 * midway (issue 12). regrole names a role of the cluster; the others name objects of the
 * database, which exist on the target only once the schema is there.
 */
const REG_TYPES = new Set([
  "regclass",
  "regcollation",
  "regconfig",
  "regdictionary",
  "regnamespace",
  "regoper",
  "regoperator",
  "regproc",
  "regprocedure",
  "regrole",
  "regtype",
]);

/** Distinct values read per column; a column with more is checked on these and said to be. */
const MAX_VALUES = 1000;

export interface RegColumn {
  table: string;
  column: string;
  type: string;
  values: string[];
  /** More distinct values than were read. */
  truncated: boolean;
}

/** The distinct values of every OID alias column (or array of one) of the migrated tables. */
export async function readRegValues(
  source: pg.ClientBase,
  tables: readonly SourceTable[],
): Promise<RegColumn[]> {
  const out: RegColumn[] = [];
  for (const t of tables) {
    for (const c of t.columns) {
      const array = c.type.endsWith("[]");
      const type = array ? c.type.slice(0, -2) : c.type;
      if (!REG_TYPES.has(type) || c.generated) continue;
      const col = sqlIdent(c.name);
      const from = array
        ? `${qualified(t.schema, t.name)} t cross join lateral unnest(t.${col}) as u(v)`
        : `(select ${col} as v from ${qualified(t.schema, t.name)}) as u`;
      // Numbers (an OID whose object is gone) and '-' (zero) are read back as they are.
      const { rows } = await source.query<{ v: string }>(
        `select distinct v::text as v from ${from} where v is not null and v::oid <> 0
           and v::text !~ '^[0-9]+$' limit ${MAX_VALUES + 1}`,
      );
      if (rows.length === 0) continue;
      out.push({
        table: tableName(t),
        column: c.name,
        type,
        values: rows.slice(0, MAX_VALUES).map((r) => r.v),
        truncated: rows.length > MAX_VALUES,
      });
    }
  }
  return out;
}

export interface MissingValues extends RegColumn {
  missing: string[];
}

/**
 * The values the target cannot read back, each tried as its type in a savepoint. The caller's
 * session is inside a transaction (the rehearsal's, with the pre-data applied: what the target
 * has when the copy runs) or `own` asks for one, rolled back.
 */
export async function findMissing(
  target: pg.ClientBase,
  columns: readonly RegColumn[],
  own: boolean,
): Promise<MissingValues[]> {
  const out: MissingValues[] = [];
  if (columns.length === 0) return out;
  if (own) await target.query("begin");
  try {
    for (const c of columns) {
      const missing: string[] = [];
      for (const v of c.values) {
        await target.query("savepoint pgferry_reg_value");
        try {
          await target.query(`select $1::${c.type}`, [v]);
          await target.query("release savepoint pgferry_reg_value");
        } catch {
          await target.query("rollback to savepoint pgferry_reg_value");
          missing.push(v);
        }
      }
      if (missing.length > 0) out.push({ ...c, missing });
    }
  } finally {
    if (own) await target.query("rollback").catch(() => {});
  }
  return out;
}

/** One blocker per column, with the statements that create missing roles. */
export function reportMissingValues(missing: readonly MissingValues[], findings: Findings): void {
  for (const m of missing) {
    const roles = m.type === "regrole";
    const create = roles ? m.missing.map((r) => `CREATE ROLE ${r} NOLOGIN;`).join(" ") : "";
    findings.blocker({
      code: "REFERENCED_OBJECT_MISSING",
      side: "target",
      table: m.table,
      message: `Column ${m.column} of ${m.table} (${m.type}) holds ${plural(m.missing.length, roles ? "role" : "name")} the target lacks${roles ? "" : " when the copy runs (after tables, types and functions exist, before indexes and constraints)"}: ${nameList(m.missing)}. The copy of ${m.table} would fail on the first such row.${m.truncated ? ` (Only the first ${MAX_VALUES} distinct values were checked.)` : ""}`,
      ...(roles
        ? { sql: { side: "target" as const, by: "administrator" as const, statements: create } }
        : {}),
      fix: roles
        ? `Create the roles on the target before \`pgferry start\` (as a role with CREATEROLE): ${create}`
        : "Create what they name on the target before `pgferry start` (an object of an extension, a text search configuration, an object of a table left out), or change those rows on the source so they name what the target will have (or hold the OID as a number: a column of type oid is copied as it is).",
    });
  }
}
