import type pg from "pg";
import type { ConnInfo } from "../db/index.js";
import { PgferryError } from "../errors/index.js";

/** What identifies the source database a migration belongs to (kept in migration.source_identity). */
export interface SourceIdentity {
  host: string;
  port: number;
  database: string;
  /** pg_control_system().system_identifier when the role may read it (not on every host). */
  systemIdentifier: string | null;
  databaseOid: number;
}

export async function readSourceIdentity(client: pg.ClientBase, info: ConnInfo): Promise<SourceIdentity> {
  const { rows } = await client.query<{ oid: string }>(
    "select oid::int8::text as oid from pg_database where datname = current_database()",
  );
  const systemIdentifier = await client
    .query<{ id: string }>("select system_identifier::text as id from pg_control_system()")
    .then((r) => r.rows[0]?.id ?? null)
    // Managed hosts may revoke it; host, port and database name then stand in.
    .catch(() => null);
  return {
    host: info.host,
    port: info.port,
    database: info.database,
    systemIdentifier,
    databaseOid: Number(rows[0]!.oid),
  };
}

export function parseIdentity(text: string): SourceIdentity | undefined {
  try {
    const v = JSON.parse(text) as SourceIdentity;
    return typeof v === "object" && v !== null && typeof v.databaseOid === "number" ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Same cluster (system identifier) and same database (oid) when both are known: the strongest
 * test, and it holds when the source is reached under another host name. Otherwise the
 * address and database (name and oid) must match.
 */
export function sameSource(a: SourceIdentity, b: SourceIdentity): boolean {
  if (a.databaseOid !== b.databaseOid) return false;
  if (a.systemIdentifier && b.systemIdentifier) return a.systemIdentifier === b.systemIdentifier;
  return a.host === b.host && a.port === b.port && a.database === b.database;
}

/** Whether the connected source is the one a stored identity names. */
export async function isSameSource(
  source: pg.ClientBase,
  info: ConnInfo,
  identity: string,
): Promise<boolean> {
  const stored = parseIdentity(identity);
  return stored !== undefined && sameSource(stored, await readSourceIdentity(source, info));
}

/**
 * Refuses to act on a source other than the migration's. Commands that change the source
 * (cutover's fence, cleanup) call it first: pgferry objects on another database belong to
 * another migration.
 */
export async function assertSameSource(
  source: pg.ClientBase,
  info: ConnInfo,
  identity: string,
): Promise<void> {
  if (!(await isSameSource(source, info, identity))) {
    throw new PgferryError(
      "SOURCE_MISMATCH",
      `The source ${info.display} is not the source of this migration.`,
      {
        side: "source",
      },
    );
  }
}
