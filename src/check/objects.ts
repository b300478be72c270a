import type pg from "pg";
import { type SourceTable, SYSTEM_SCHEMAS } from "../catalog/index.js";
import { formatBytes, plural, sqlIdent } from "./format.js";
import { type Findings, nameList, tableName } from "./types.js";

const NOT_SYSTEM = `n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
  and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`;

const OTHER_RELATIONS_SQL = `
select n.nspname as schema, c.relname as name, c.relkind as kind,
       case when c.relkind = 'm' then pg_total_relation_size(c.oid) else 0 end::int8 as bytes
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('f', 'm', 'S') and ${NOT_SYSTEM}
order by 1, 2`;

const LARGE_OBJECTS_SQL = `
select count(*)::int8 as total,
       count(*) filter (where current_setting('lo_compat_privileges') = 'off'
         and not pg_has_role(lomowner, 'USAGE')
         and not exists (select 1 from aclexplode(lomacl) a
                         where a.privilege_type = 'SELECT' and (a.grantee = 0 or pg_has_role(a.grantee, 'USAGE')))
       )::int8 as unreadable,
       (array_agg(oid::int8 order by oid) filter (where current_setting('lo_compat_privileges') = 'off'
         and not pg_has_role(lomowner, 'USAGE')
         and not exists (select 1 from aclexplode(lomacl) a
                         where a.privilege_type = 'SELECT' and (a.grantee = 0 or pg_has_role(a.grantee, 'USAGE')))
       ))[1:1000] as unreadable_oids,
       current_user as role
from pg_largeobject_metadata`;

// A sequence feeding the defaults of several tables: its value must be synced once, for all of them.
const SHARED_SEQUENCES_SQL = `
select sn.nspname as schema, s.relname as name,
       array_agg(distinct tn.nspname || '.' || t.relname order by tn.nspname || '.' || t.relname) as tables
from pg_depend d
join pg_attrdef ad on d.classid = 'pg_attrdef'::regclass and d.objid = ad.oid
join pg_class s on s.oid = d.refobjid and s.relkind = 'S'
join pg_namespace sn on sn.oid = s.relnamespace
join pg_class t on t.oid = ad.adrelid
join pg_namespace tn on tn.oid = t.relnamespace
group by sn.nspname, s.relname
having count(distinct ad.adrelid) > 1
order by 1, 2`;

type Match = (schema: string, name: string) => boolean;

/** A row of LARGE_OBJECTS_SQL: int8 arrives as text, the oids (int8[]) as text too. */
interface LargeObjectsRow {
  total: string;
  unreadable: string;
  unreadable_oids: string[] | null;
  role: string;
}

/** Objects that capture triggers cannot follow, and what pgferry (or the user) does about each. */
export async function checkObjects(
  client: pg.ClientBase,
  tables: readonly SourceTable[],
  match: Match,
  findings: Findings,
): Promise<{ largeObjects: number }> {
  const others = (
    await client.query<{ schema: string; name: string; kind: "f" | "m" | "S"; bytes: string }>(
      OTHER_RELATIONS_SQL,
      [SYSTEM_SCHEMAS],
    )
  ).rows;
  reportForeignTables(
    others.filter((r) => r.kind === "f" && match(r.schema, r.name)).map(tableName),
    findings,
  );
  reportMatviews(
    others.filter((r) => r.kind === "m"),
    findings,
  );
  reportTableKinds(tables, findings);
  const sequences = others.filter((r) => r.kind === "S");
  if (sequences.length > 0) {
    findings.note({
      code: "SEQUENCES",
      side: "source",
      message: `${plural(sequences.length, "sequence")} (identity columns included): pgferry copies their current values at cutover.`,
      fix: "Nothing to do. To leave room for writes that race the switch, cutover can add a safety gap to every value.",
    });
  }
  for (const s of (
    await client.query<{ schema: string; name: string; tables: string[] }>(SHARED_SEQUENCES_SQL)
  ).rows) {
    findings.note({
      code: "SHARED_SEQUENCE",
      side: "source",
      message: `Sequence ${tableName(s)} feeds ${s.tables.join(", ")}: its value is copied once at cutover and stays shared on the target.`,
      fix: "Nothing to do.",
    });
  }
  const lo = (await client.query<LargeObjectsRow>(LARGE_OBJECTS_SQL)).rows[0]!;
  reportLargeObjects(Number(lo.total), Number(lo.unreadable), findings, {
    oids: lo.unreadable_oids ?? [],
    role: lo.role,
  });
  findings.warning({
    code: "DDL_FREEZE",
    side: "source",
    message:
      "Schema changes (DDL) on the source are not captured: a column added or changed during the migration stops that table's stream.",
    fix: "Freeze schema changes and deploys that run migrations on the source from `pgferry start` until cutover.",
  });
  return { largeObjects: Number(lo.total) };
}

function reportForeignTables(names: string[], findings: Findings): void {
  if (names.length === 0) return;
  findings.warning({
    code: "FOREIGN_TABLES",
    side: "source",
    message: `Foreign tables are not copied (their rows live on another server): ${nameList(names)}.`,
    fix: "Create the foreign server and user mapping on the target so their definitions work there, or leave them out with --exclude.",
  });
}

function reportMatviews(rows: { schema: string; name: string; bytes: string }[], findings: Findings): void {
  if (rows.length === 0) return;
  const bytes = rows.reduce((sum, r) => sum + Number(r.bytes), 0);
  findings.warning({
    code: "MATERIALIZED_VIEWS",
    side: "source",
    message: `${plural(rows.length, "materialized view")} to create on the target and refresh at cutover (${formatBytes(bytes)} on the source): ${nameList(rows.map(tableName))}.`,
    fix: "Nothing to do; a large one lengthens cutover, so consider dropping unused ones before starting.",
  });
}

function reportTableKinds(tables: readonly SourceTable[], findings: Findings): void {
  for (const t of tables.filter((x) => x.unlogged)) {
    findings.warning({
      code: "UNLOGGED_TABLE",
      side: "source",
      table: tableName(t),
      message: `${tableName(t)} is UNLOGGED: pgferry copies and streams it, but the source empties it after a crash, and the target's copy is unlogged too.`,
      fix: "Nothing to do if losing it on a crash is acceptable; otherwise ALTER TABLE … SET LOGGED on the target after cutover.",
    });
  }
  const generated = tables.filter((t) => t.columns.some((c) => c.generated)).map(tableName);
  if (generated.length > 0) {
    findings.note({
      code: "GENERATED_COLUMNS",
      side: "source",
      message: `Generated columns are not copied; the target computes them: ${nameList(generated)}.`,
      fix: "Nothing to do.",
    });
  }
  const identity = tables.filter((t) => t.columns.some((c) => c.identity !== "")).map(tableName);
  if (identity.length > 0) {
    findings.note({
      code: "IDENTITY_COLUMNS",
      side: "source",
      message: `Identity columns are copied with their values; their sequences are synced at cutover: ${nameList(identity)}.`,
      fix: "Nothing to do.",
    });
  }
}

function reportLargeObjects(
  total: number,
  unreadable: number,
  findings: Findings,
  who: { oids: string[]; role: string },
): void {
  if (total === 0) return;
  findings.warning({
    code: "LARGE_OBJECTS",
    side: "source",
    message: `The source has ${plural(total, "large object")} (pg_largeobject): triggers cannot capture them, so pgferry copies them at cutover, which lengthens it.`,
    fix: "Nothing to do if that is acceptable; storing the data in bytea columns instead makes them part of the live stream.",
  });
  if (unreadable > 0) {
    const grants = who.oids
      .map((o) => `GRANT SELECT ON LARGE OBJECT ${o} TO ${sqlIdent(who.role)};`)
      .join(" ");
    findings.blocker({
      code: "LARGE_OBJECTS_UNREADABLE",
      side: "source",
      message: `${plural(unreadable, "large object")} belong to another role and the source role may not read them.`,
      fix: `Connect as the role that owns them, or grant access as their owner: ${grants}${unreadable > who.oids.length ? ` (the first ${who.oids.length}; the others likewise)` : ""}`,
      sql: { side: "source", by: "owner", statements: grants },
    });
  }
}
