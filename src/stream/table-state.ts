import type pg from "pg";
import { moveTable, readTables, recordEvent, type TableRow, toTableRow } from "../state/index.js";
import type { StreamTable } from "./types.js";

/**
 * A control row the stream works on. Its position is null only between prepare's schema step
 * and S0 (or never, for `tables add`), when no stream reads the tables.
 */
export function asStreamTable(t: TableRow): StreamTable {
  return { ...t, position: t.position as string };
}

/** The stream's view of a `select *` row of the tables' control rows. */
export function toStreamTable(r: Record<string, unknown>): StreamTable {
  return asStreamTable(toTableRow(r));
}

export async function readStreamTables(client: pg.ClientBase): Promise<StreamTable[]> {
  return (await readTables(client)).map(asStreamTable);
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
  const moved = await moveTable(
    client,
    t.id,
    { from: ["indexed", "streaming"], to: "paused", skip: ["paused"] },
    { pausedReason: reason },
  );
  if (!moved) return false;
  await recordEvent(client, "warn", "stream-paused", `${tableName(t)}: ${reason}`, {
    table: tableName(t),
    ...details,
  });
  return true;
}
