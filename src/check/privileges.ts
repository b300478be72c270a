import type pg from "pg";
import { excludeFlag, type SourceTable } from "../catalog/index.js";
import { sqlIdent, sqlName } from "./format.js";
import { type Findings, tableName } from "./types.js";

const SOURCE_DB_SQL = `
select has_database_privilege(current_database(), 'CREATE') as can_create,
       current_user as role, current_database() as db,
       (select pg_has_role(nspowner, 'USAGE') from pg_namespace where nspname = 'pgferry') as owns_pgferry`;

const RELATION_PRIVILEGES_SQL = `
select c.oid::int8 as oid, n.nspname as schema, c.relname as name,
       pg_has_role(c.relowner, 'USAGE') as owned,
       has_table_privilege(c.oid, 'TRIGGER') as can_trigger,
       has_table_privilege(c.oid, 'SELECT') as can_select
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.oid = any ($1::oid[])
order by n.nspname, c.relname`;

/**
 * The source role must create schema pgferry (CREATE on the database, unless it already owns
 * one), create capture triggers on every replicated relation (owner or TRIGGER privilege; leaf
 * partitions too, as their own triggers fire for DML aimed at them) and read every one.
 */
export async function checkSourcePrivileges(
  client: pg.ClientBase,
  tables: readonly SourceTable[],
  findings: Findings,
): Promise<void> {
  const { rows } = await client.query<{
    can_create: boolean;
    role: string;
    db: string;
    /** null: the source has no schema pgferry. */
    owns_pgferry: boolean | null;
  }>(SOURCE_DB_SQL);
  const db = rows[0]!;
  if (db.owns_pgferry === false) {
    findings.blocker({
      code: "SOURCE_PGFERRY_SCHEMA_FOREIGN",
      side: "source",
      message: "The source has a schema named pgferry that the connected role does not own.",
      fix: "Connect as the role that owns schema pgferry, or drop or rename that schema if it is not pgferry's.",
    });
  } else if (db.owns_pgferry === null && !db.can_create) {
    findings.blocker({
      code: "SOURCE_CANNOT_CREATE_SCHEMA",
      side: "source",
      message:
        "The source role cannot create a schema (no CREATE privilege on the database); pgferry keeps its change log in schema pgferry.",
      fix: `Connect as the database owner, or run as the owner: GRANT CREATE ON DATABASE ${sqlIdent(db.db)} TO ${sqlIdent(db.role)};`,
      sql: {
        side: "source",
        by: "owner",
        statements: `GRANT CREATE ON DATABASE ${sqlIdent(db.db)} TO ${sqlIdent(db.role)};`,
      },
    });
  }
  const role = sqlIdent(db.role);
  const oids = tables.flatMap((t) => [t.oid, ...t.leaves.map((l) => l.oid)]);
  if (oids.length === 0) return;
  const privs = await client.query<{
    oid: string;
    schema: string;
    name: string;
    owned: boolean;
    can_trigger: boolean;
    can_select: boolean;
  }>(RELATION_PRIVILEGES_SQL, [oids]);
  for (const r of privs.rows) {
    const name = tableName(r);
    if (!r.owned && !r.can_trigger) {
      findings.blocker({
        code: "SOURCE_CANNOT_TRIGGER",
        side: "source",
        table: name,
        message: `The source role neither owns ${name} nor may create triggers on it; pgferry captures changes with triggers.`,
        fix: `Connect as the table's owner, or run as its owner: GRANT TRIGGER ON ${sqlName(r.schema, r.name)} TO ${role}; or leave it out with ${excludeFlag([r])}.`,
        sql: {
          side: "source",
          by: "owner",
          statements: `GRANT TRIGGER ON ${sqlName(r.schema, r.name)} TO ${role};`,
        },
      });
    }
    if (!r.can_select) {
      findings.blocker({
        code: "SOURCE_CANNOT_READ",
        side: "source",
        table: name,
        message: `The source role cannot read ${name}.`,
        fix: `Run as its owner: GRANT SELECT ON ${sqlName(r.schema, r.name)} TO ${role}; or leave it out with ${excludeFlag([r])}.`,
        sql: {
          side: "source",
          by: "owner",
          statements: `GRANT SELECT ON ${sqlName(r.schema, r.name)} TO ${role};`,
        },
      });
    }
  }
}

const TARGET_SQL = `
select has_database_privilege(current_database(), 'CREATE') as can_create,
       current_user as role, current_database() as db,
       (select coalesce(json_agg(json_build_object('name', nspname, 'create', has_schema_privilege(oid, 'CREATE') and has_schema_privilege(oid, 'USAGE'))), '[]')
          from pg_namespace where nspname = any ($1::text[])) as schemas`;

/**
 * The target role must create the control schema and every source schema that is not there
 * yet (CREATE on the database), and create tables in the schemas that already exist.
 */
export async function checkTargetPrivileges(
  client: pg.ClientBase,
  schemas: readonly string[],
  findings: Findings,
): Promise<void> {
  const wanted = [...new Set([...schemas, "pgferry"])];
  const { rows } = await client.query<{
    can_create: boolean;
    role: string;
    db: string;
    schemas: { name: string; create: boolean }[];
  }>(TARGET_SQL, [wanted]);
  const target = rows[0]!;
  const existing = target.schemas;
  const missing = wanted.filter((s) => !existing.some((e) => e.name === s));
  if (!target.can_create && missing.length > 0) {
    findings.blocker({
      code: "TARGET_CANNOT_CREATE_SCHEMA",
      side: "target",
      message: `The target role cannot create schemas (no CREATE privilege on the database); pgferry needs to create ${missing.join(", ")}.`,
      fix: `Connect as the target database's owner, or run as its owner: GRANT CREATE ON DATABASE ${sqlIdent(target.db)} TO ${sqlIdent(target.role)};`,
      sql: {
        side: "target",
        by: "owner",
        statements: `GRANT CREATE ON DATABASE ${sqlIdent(target.db)} TO ${sqlIdent(target.role)};`,
      },
    });
  }
  for (const s of existing.filter((e) => !e.create)) {
    findings.blocker({
      code: "TARGET_CANNOT_CREATE_TABLES",
      side: "target",
      message: `The target role cannot create and use tables in schema ${s.name} (it needs USAGE and CREATE there).`,
      fix: `Run as the schema's owner on the target: GRANT USAGE, CREATE ON SCHEMA ${sqlIdent(s.name)} TO ${sqlIdent(target.role)};`,
      sql: {
        side: "target",
        by: "owner",
        statements: `GRANT USAGE, CREATE ON SCHEMA ${sqlIdent(s.name)} TO ${sqlIdent(target.role)};`,
      },
    });
  }
}
