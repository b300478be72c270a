import type pg from "pg";

export interface Column {
  name: string;
  /** format_type(), e.g. "character varying(20)", "public.mood[]" */
  type: string;
  notNull: boolean;
  /** GENERATED ALWAYS AS (…) STORED: computed on the target, never copied. */
  generated: boolean;
  identity: "" | "a" | "d";
}

export interface RelationRef {
  schema: string;
  name: string;
  oid: number;
}

export interface SourceTable extends RelationRef {
  /** 'partitioned' tables are copied through their leaf partitions and streamed through the root. */
  kind: "table" | "partitioned";
  leaves: RelationRef[];
  unlogged: boolean;
  columns: Column[];
  /** The replication key: the primary key, else the narrowest unique index over NOT NULL columns. */
  key: { columns: string[]; kind: "primary" | "unique"; indexName: string } | undefined;
  /**
   * Unique indexes over a nullable column, which are not keys: nothing keeps a NULL out, and
   * rows with NULLs there do not conflict (so two of them can be identical).
   */
  nullableUnique: { indexName: string; columns: string[] }[];
  rowsEstimate: number;
  bytes: number;
  rlsEnabled: boolean;
  rlsForced: boolean;
  owner: string;
  /** The connected role owns the table (or is a member of its owner). */
  owned: boolean;
  /** The connected role holds the TRIGGER privilege on it. */
  canTrigger: boolean;
}

/** Schemas never replicated: the system's, and pgferry's own. */
export const SYSTEM_SCHEMAS = ["pg_catalog", "information_schema", "pgferry"];

const TABLES_SQL = `
with recursive rels as (
  select c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.relispartition,
         c.relrowsecurity, c.relforcerowsecurity, c.reltuples, pg_get_userbyid(c.relowner) as owner,
         pg_has_role(c.relowner, 'USAGE') as owned,
         has_table_privilege(c.oid, 'TRIGGER') as can_trigger
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p')
    and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
    and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
),
leaves (root, oid) as (
  select r.oid, r.oid from rels r where r.relkind = 'p'
  union all
  select l.root, i.inhrelid from leaves l join pg_inherits i on i.inhparent = l.oid
)
select r.oid::int8 as oid, r.nspname as schema, r.relname as name, r.relkind as relkind,
       r.relpersistence = 'u' as unlogged, r.relrowsecurity as rls_enabled, r.relforcerowsecurity as rls_forced,
       r.owner, r.owned, r.can_trigger,
       case when r.relkind = 'p'
         then (select coalesce(sum(greatest(c.reltuples, 0)), 0) from leaves l join pg_class c on c.oid = l.oid where l.root = r.oid and c.relkind = 'r')
         else greatest(r.reltuples, 0) end::int8 as rows_estimate,
       case when r.relkind = 'p'
         then (select coalesce(sum(pg_table_size(l.oid)), 0) from leaves l join pg_class c on c.oid = l.oid where l.root = r.oid and c.relkind = 'r')
         else pg_table_size(r.oid) end::int8 as bytes,
       coalesce((select json_agg(json_build_object('schema', n.nspname, 'name', c.relname, 'oid', c.oid::int8) order by n.nspname, c.relname)
                 from leaves l join pg_class c on c.oid = l.oid join pg_namespace n on n.oid = c.relnamespace
                 where l.root = r.oid and c.relkind = 'r'), '[]') as leaves
from rels r
where not r.relispartition
order by r.nspname, r.relname`;

const COLUMNS_SQL = `
select a.attrelid::int8 as oid, a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
       a.attnotnull as not_null, %GENERATED% as generated, %IDENTITY% as identity
from pg_attribute a
where a.attrelid = any ($1::oid[]) and a.attnum > 0 and not a.attisdropped
order by a.attrelid, a.attnum`;

const KEYS_SQL = `
select i.indrelid::int8 as oid, ic.relname as index_name, i.indisprimary as is_primary,
       array_agg(a.attname::text order by k.ord) as columns, -- name[] is not parsed by node-postgres; text[] is
       bool_and(a.attnotnull) as all_not_null
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
where i.indrelid = any ($1::oid[]) and i.indisunique and i.indpred is null and i.indexprs is null
  and (i.indisvalid or i.indisprimary)
group by i.indrelid, ic.relname, i.indisprimary, i.indnatts, i.indnkeyatts
having count(*) = i.indnkeyatts or i.indnatts = i.indnkeyatts`;

/** A row of TABLES_SQL (int8 arrives as text; the json leaves' oid, an int8 in JSON, as a number). */
interface TableSqlRow {
  oid: string;
  schema: string;
  name: string;
  relkind: "r" | "p";
  unlogged: boolean;
  rls_enabled: boolean;
  rls_forced: boolean;
  owner: string;
  owned: boolean;
  can_trigger: boolean;
  rows_estimate: string;
  bytes: string;
  leaves: { schema: string; name: string; oid: number }[];
}

/** A row of COLUMNS_SQL. */
interface ColumnSqlRow {
  oid: string;
  name: string;
  type: string;
  not_null: boolean;
  generated: boolean;
  identity: Column["identity"];
}

/** A row of KEYS_SQL. */
interface KeySqlRow {
  oid: string;
  index_name: string;
  is_primary: boolean;
  columns: string[];
  all_not_null: boolean;
}

/** Reads every user table of the connected database with its key, columns and size. */
export async function listTables(client: pg.ClientBase, major: number): Promise<SourceTable[]> {
  const base = await client.query<TableSqlRow>(TABLES_SQL, [SYSTEM_SCHEMAS]);
  const oids = base.rows.map((r) => r.oid);
  const colSql = COLUMNS_SQL.replace("%GENERATED%", major >= 12 ? "a.attgenerated = 's'" : "false").replace(
    "%IDENTITY%",
    major >= 10 ? "a.attidentity::text" : "''",
  );
  const cols = await client.query<ColumnSqlRow>(colSql, [oids]);
  const keys = await client.query<KeySqlRow>(KEYS_SQL, [oids]);
  const colsByOid = new Map<string, Column[]>();
  for (const c of cols.rows) {
    const list = colsByOid.get(c.oid) ?? [];
    list.push({
      name: c.name,
      type: c.type,
      notNull: c.not_null,
      generated: c.generated,
      identity: c.identity,
    });
    colsByOid.set(c.oid, list);
  }
  const nullableByOid = new Map<string, SourceTable["nullableUnique"]>();
  for (const k of keys.rows.filter((r) => !r.is_primary && !r.all_not_null)) {
    const list = nullableByOid.get(k.oid) ?? [];
    list.push({ indexName: k.index_name, columns: k.columns });
    nullableByOid.set(k.oid, list);
  }
  const keysByOid = new Map<string, SourceTable["key"]>();
  for (const k of keys.rows.filter((r) => r.is_primary || r.all_not_null)) {
    const cand = {
      columns: k.columns,
      kind: (k.is_primary ? "primary" : "unique") as "primary" | "unique",
      indexName: k.index_name,
    };
    const cur = keysByOid.get(k.oid);
    if (
      !cur ||
      (cur.kind !== "primary" && (cand.kind === "primary" || cand.columns.length < cur.columns.length))
    ) {
      keysByOid.set(k.oid, cand);
    }
  }
  return base.rows.map((r) => ({
    oid: Number(r.oid),
    schema: r.schema,
    name: r.name,
    kind: r.relkind === "p" ? "partitioned" : "table",
    leaves: r.leaves.map((l) => ({
      ...l,
      oid: Number(l.oid),
    })),
    unlogged: r.unlogged,
    columns: colsByOid.get(r.oid) ?? [],
    key: keysByOid.get(r.oid),
    nullableUnique: nullableByOid.get(r.oid) ?? [],
    rowsEstimate: Number(r.rows_estimate),
    bytes: Number(r.bytes),
    rlsEnabled: r.rls_enabled,
    rlsForced: r.rls_forced,
    owner: r.owner,
    owned: r.owned,
    canTrigger: r.can_trigger,
  }));
}

/**
 * How the stream identifies a table's rows: by its replication key, or, for a table without
 * one (no primary key, no unique index over NOT NULL columns), by the whole row's image.
 */
export type RowIdentity = "key" | "row";

export function identityOf(t: Pick<SourceTable, "key">): RowIdentity {
  return t.key ? "key" : "row";
}

/** A signature of a table's columns; when it changes on the source, DDL happened. */
export function tableShape(columns: readonly Column[]): string {
  return columns.map((c) => `${c.name}:${c.type}${c.generated ? ":g" : ""}`).join(",");
}

/** Columns that COPY must carry (generated columns are computed by the target). */
export function copyColumns(columns: readonly Column[]): Column[] {
  return columns.filter((c) => !c.generated);
}
