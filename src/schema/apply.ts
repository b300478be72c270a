import type pg from "pg";
import { ident } from "../db/index.js";
import { PgferryError, redact } from "../errors/index.js";
import { splitDump } from "./dump-text.js";
import { splitStatements } from "./sql-lexer.js";
import type { SchemaDump } from "./types.js";

/**
 * Applies extensions, then the pre-data DDL, inside the caller's open transaction (so a
 * failure leaves nothing behind once the caller rolls back). Each dump entry runs as its own
 * query so an error can name the object. Afterwards every setting the dump changed (the
 * empty search_path above all) is reset to the session's own value.
 */
export async function applyPreData(target: pg.ClientBase, dump: SchemaDump): Promise<void> {
  for (const ext of dump.extensions) await createExtension(target, ext);
  const { preamble, entries } = splitDump(dump.preData);
  const changed = new Set(await runPreamble(target, preamble));
  for (const entry of entries) {
    const statements = splitStatements(entry.sql);
    if (statements.length === 0) continue;
    // pg_dump also sets default_tablespace / default_table_access_method between entries.
    for (const s of statements) {
      const set = /^SET\s+(\w+)/i.exec(s);
      if (set) changed.add(set[1]!.toLowerCase());
    }
    try {
      await target.query(entry.sql);
    } catch (err) {
      throw applyError(err, `${entry.type} ${entry.schema ? `${entry.schema}.` : ""}${entry.tag}`, entry.sql);
    }
  }
  for (const name of changed) await target.query(`reset ${ident(name)}`);
}

/**
 * The SETs at the top of the dump. A setting the target does not know (pg_dump 17 sets
 * transaction_timeout, which a 16 target lacks) is skipped rather than fatal.
 */
async function runPreamble(target: pg.ClientBase, preamble: string): Promise<string[]> {
  const changed: string[] = [];
  for (const stmt of splitStatements(preamble)) {
    const set = /^SET\s+(\w+)\s*=/i.exec(stmt) ?? /set_config\('(\w+)'/i.exec(stmt);
    if (set) {
      const name = set[1]!.toLowerCase();
      const known = await target.query("select 1 from pg_catalog.pg_settings where name = $1", [name]);
      if (known.rowCount === 0) continue;
      changed.push(name);
    }
    await target.query(stmt);
  }
  return changed;
}

async function createExtension(target: pg.ClientBase, ext: { name: string; schema: string }): Promise<void> {
  const { rows } = await target.query<{ schema: string }>(
    "select n.nspname as schema from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace where e.extname = $1",
    [ext.name],
  );
  if (rows[0]) {
    if (rows[0].schema === ext.schema) return;
    throw new PgferryError(
      "SCHEMA_APPLY_FAILED",
      `Extension "${ext.name}" is installed on the target in schema "${rows[0].schema}", but the source has it in "${ext.schema}" and the schema refers to it there.`,
      {
        side: "target",
        hint: `Move it on the target: ALTER EXTENSION ${ident(ext.name)} SET SCHEMA ${ident(ext.schema)} (create the schema first), then run start again.`,
      },
    );
  }
  try {
    if (ext.schema !== "pg_catalog") await target.query(`create schema if not exists ${ident(ext.schema)}`);
    await target.query(`create extension if not exists ${ident(ext.name)} with schema ${ident(ext.schema)}`);
  } catch (err) {
    throw extensionError(err, ext);
  }
}

function extensionError(err: unknown, ext: { name: string; schema: string }): PgferryError {
  const e = err as { code?: string; message?: string };
  const create = `CREATE EXTENSION IF NOT EXISTS ${ident(ext.name)} WITH SCHEMA ${ident(ext.schema)}`;
  const detail = redact(e.message ?? String(err));
  if (e.code === "42501") {
    return new PgferryError(
      "SCHEMA_APPLY_FAILED",
      `The target role may not create extension "${ext.name}" (${detail}).`,
      {
        side: "target",
        cause: err,
        hint: `Have an administrator run \`${create};\` on the target database (on RDS/Aurora as a member of rds_superuser, with the extension in rds.allowed_extensions), then run start again.`,
      },
    );
  }
  if (e.code === "58P01" || e.code === "0A000" || e.code === "22023") {
    return new PgferryError(
      "SCHEMA_APPLY_FAILED",
      `Extension "${ext.name}" is not available on the target server (${detail}).`,
      {
        side: "target",
        cause: err,
        hint: `Install or allow the extension on the target server (a managed service lists the extensions it supports), then run \`${create};\` and start again.`,
      },
    );
  }
  return new PgferryError(
    "SCHEMA_APPLY_FAILED",
    `Creating extension "${ext.name}" on the target failed: ${detail}`,
    {
      side: "target",
      cause: err,
      hint: `Run \`${create};\` on the target as an administrator to see why, fix it, then run start again.`,
    },
  );
}

function applyError(err: unknown, what: string, sql: string): PgferryError {
  const e = err as { code?: string; message?: string };
  const detail = redact(e.message ?? String(err));
  const excerpt = sql.length > 400 ? `${sql.slice(0, 400)}…` : sql;
  const hint =
    e.code === "42501"
      ? "The target role lacks a privilege this object needs (often superuser): create it on the target as an administrator, or leave the object out, then run start again."
      : e.code === "42704" || e.code === "42883"
        ? "It refers to something the target lacks (a role, an extension, a collation): create that on the target, then run start again."
        : undefined;
  return new PgferryError("SCHEMA_APPLY_FAILED", `The target rejected ${what}: ${detail}\n${excerpt}`, {
    side: "target",
    cause: err,
    ...(hint ? { hint } : {}),
  });
}
