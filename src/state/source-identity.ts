import type pg from "pg";
import type { ConnInfo } from "../db/index.js";
import { PgferryError } from "../errors/index.js";

interface StoredIdentity {
  host?: string;
  port?: number;
  database?: string;
  systemIdentifier?: string | null;
  databaseOid?: number;
}

/**
 * Refuses to act on a source other than the migration's (migration.source_identity, written
 * by prepare): same database oid, and the same cluster, or when the cluster cannot be read,
 * the same address and name. Commands that change the source (cutover's fence, cleanup) call
 * it first: pgferry objects on another database belong to another migration.
 */
export async function assertSameSource(
  source: pg.ClientBase,
  info: ConnInfo,
  identity: string,
): Promise<void> {
  let stored: StoredIdentity;
  try {
    stored = JSON.parse(identity) as StoredIdentity;
  } catch {
    return;
  }
  if (typeof stored?.databaseOid !== "number") return;
  const { rows } = await source.query<{ oid: string }>(
    "select oid::int8::text as oid from pg_database where datname = current_database()",
  );
  let same = Number(rows[0]!.oid) === stored.databaseOid;
  if (same) {
    const system = await source
      .query<{ id: string }>("select system_identifier::text as id from pg_control_system()")
      .then((r) => r.rows[0]?.id ?? null)
      .catch(() => null);
    same =
      stored.systemIdentifier && system
        ? stored.systemIdentifier === system
        : stored.host === info.host && stored.port === info.port && stored.database === info.database;
  }
  if (!same) {
    throw new PgferryError(
      "SOURCE_MISMATCH",
      `The source ${info.display} is not the source of this migration.`,
      {
        side: "source",
      },
    );
  }
}
