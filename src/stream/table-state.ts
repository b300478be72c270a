import type pg from "pg";
import { recordEvent } from "../state/index.js";
import type { StoredColumn, StreamTable } from "./types.js";

export const TABLE_FIELDS =
  "id, schema_name, table_name, kind, key_columns, identity, columns, shape, phase, position, source_oid, recopy";

export function toStreamTable(r: Record<string, unknown>): StreamTable {
  return {
    id: r["id"] as number,
    schema: r["schema_name"] as string,
    name: r["table_name"] as string,
    kind: r["kind"] === "partitioned" ? "partitioned" : "table",
    keyColumns: r["key_columns"] as string[],
    identity: r["identity"] === "row" ? "row" : "key",
    recopy: r["recopy"] === true,
    columns: r["columns"] as StoredColumn[],
    shape: r["shape"] as string,
    phase: r["phase"] as string,
    position: r["position"] as string,
    sourceOid: r["source_oid"] === null || r["source_oid"] === undefined ? null : Number(r["source_oid"]),
  };
}

export async function readStreamTables(client: pg.ClientBase): Promise<StreamTable[]> {
  const { rows } = await client.query(`select ${TABLE_FIELDS} from pgferry.tables order by id`);
  return rows.map(toStreamTable);
}

export function tableName(t: Pick<StreamTable, "schema" | "name">): string {
  return `${t.schema}.${t.name}`;
}

/** Sets a streaming table aside with the reason; the other tables go on. */
export async function pauseTable(
  client: pg.ClientBase,
  t: StreamTable,
  reason: string,
  details: Record<string, unknown> = {},
): Promise<boolean> {
  const r = await client.query(
    `update pgferry.tables set phase = 'paused', paused_reason = $2
      where id = $1 and phase in ('indexed', 'streaming')`,
    [t.id, reason],
  );
  if (!r.rowCount) return false;
  await recordEvent(client, "warn", "stream-paused", `${tableName(t)}: ${reason}`, {
    table: tableName(t),
    ...details,
  });
  return true;
}
