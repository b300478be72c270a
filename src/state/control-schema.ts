import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { withTransaction } from "../db/index.js";

export const CONTROL_SCHEMA = "pgferry";
const SQL_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "sql");

/** The numbered SQL files, in order. */
function migrations(): { version: number; sql: string }[] {
  return readdirSync(SQL_DIR)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.split("_")[0]), sql: readFileSync(path.join(SQL_DIR, f), "utf8") }));
}

/**
 * Creates or upgrades the control schema on the target. Only the target role (its owner) can
 * use it: PUBLIC loses every privilege. Serialised by an advisory lock so two pgferry processes
 * starting together do not race.
 */
export async function ensureControlSchema(client: pg.Client): Promise<void> {
  await withTransaction(client, async () => {
    await client.query("select pg_advisory_xact_lock(hashtext('pgferry:control-schema'))");
    await client.query("create schema if not exists pgferry");
    await client.query("revoke all on schema pgferry from public");
    await client.query(
      "create table if not exists pgferry.schema_version (version int primary key, applied_at timestamptz not null default now())",
    );
    const { rows } = await client.query<{ version: number }>("select version from pgferry.schema_version");
    const applied = new Set(rows.map((r) => r.version));
    for (const m of migrations()) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query("insert into pgferry.schema_version (version) values ($1)", [m.version]);
    }
  });
}

/** True when the target holds a pgferry control schema with a migration row. */
export async function hasMigration(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    "select to_regclass('pgferry.migration') is not null as ok",
  );
  if (!rows[0]?.ok) return false;
  const r = await client.query("select 1 from pgferry.migration");
  return (r.rowCount ?? 0) > 0;
}
