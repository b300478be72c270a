import type pg from "pg";

/** One row of pgferry.tables on the target, as the copy stage uses it. */
export interface ControlTable {
  id: number;
  schema: string;
  name: string;
  kind: "table" | "partitioned";
  keyColumns: string[];
  /** "row": no key, copied whole in one source snapshot (copy-chunk.ts). */
  identity: "key" | "row";
  columns: { name: string; type: string; generated: boolean; identity?: string }[];
  phase: string;
  rowsEstimate: number;
  bytesEstimate: number;
}

const TABLE_COLUMNS = `id, schema_name, table_name, kind, key_columns, identity, columns, phase, rows_estimate, bytes_estimate`;

function toControlTable(r: Record<string, unknown>): ControlTable {
  return {
    id: r["id"] as number,
    schema: r["schema_name"] as string,
    name: r["table_name"] as string,
    kind: r["kind"] as ControlTable["kind"],
    keyColumns: r["key_columns"] as string[],
    identity: r["identity"] === "row" ? "row" : "key",
    columns: r["columns"] as ControlTable["columns"],
    phase: r["phase"] as string,
    rowsEstimate: Number(r["rows_estimate"]),
    bytesEstimate: Number(r["bytes_estimate"]),
  };
}

export async function readTables(client: pg.ClientBase): Promise<ControlTable[]> {
  const { rows } = await client.query(`select ${TABLE_COLUMNS} from pgferry.tables order by id`);
  return rows.map(toControlTable);
}

/** Inside the caller's transaction: the next table still to plan, locked for this planner. */
export async function claimPendingTable(client: pg.ClientBase): Promise<ControlTable | undefined> {
  const { rows } = await client.query(
    `select ${TABLE_COLUMNS} from pgferry.tables where phase = 'pending'
      order by bytes_estimate desc, id for update skip locked limit 1`,
  );
  return rows[0] ? toControlTable(rows[0]) : undefined;
}

/** Phases a table reaches only after its copy is complete. */
export const COPIED_PHASES = ["copied", "indexing", "indexed", "streaming", "paused"];
/** Phases after the index stage. */
export const INDEXED_PHASES = ["indexed", "streaming", "paused"];

/**
 * Marks 'copied' every copying table whose chunks are all done, with exact totals. Run after
 * each chunk commit (the last committer always sees every other commit) and when idle (a
 * process killed between a chunk commit and this update leaves it for the next one).
 */
export async function markCopiedTables(client: pg.ClientBase): Promise<{ id: number; name: string }[]> {
  const { rows } = await client.query<{ id: number; schema_name: string; table_name: string }>(
    `update pgferry.tables t
        set phase = 'copied', copied_at = now(),
            rows_done = coalesce((select sum(rows) from pgferry.chunks c where c.table_id = t.id), 0),
            bytes_done = coalesce((select sum(bytes) from pgferry.chunks c where c.table_id = t.id), 0)
      where t.phase = 'copying'
        and not exists (select 1 from pgferry.chunks c where c.table_id = t.id and not c.done)
      returning t.id, t.schema_name, t.table_name`,
  );
  return rows.map((r) => ({ id: r.id, name: `${r.schema_name}.${r.table_name}` }));
}

/** How far the copy and index stages are, over every table. */
export async function stageCounts(
  client: pg.ClientBase,
): Promise<{ total: number; uncopied: number; unindexed: number }> {
  const { rows } = await client.query<{ total: number; uncopied: number; unindexed: number }>(
    `select count(*)::int as total,
            count(*) filter (where phase <> all ($1::text[]))::int as uncopied,
            count(*) filter (where phase <> all ($2::text[]))::int as unindexed
       from pgferry.tables`,
    [COPIED_PHASES, INDEXED_PHASES],
  );
  return rows[0]!;
}
