import type pg from "pg";
import type { StoredColumn } from "./tables.js";

/** A chunk a copy worker holds, with what it needs of its table (one row of pgferry.chunks joined). */
export interface ChunkClaimRow {
  tableId: number;
  chunkNo: number;
  /** The physical relation read and written (a leaf partition, or the table itself). */
  schema: string;
  name: string;
  /** A WHERE fragment over that relation (quoted by pgferry); null: the whole relation. */
  predicate: string | null;
  rootSchema: string;
  rootName: string;
  columns: StoredColumn[];
  identity: "key" | "row";
  kind: "table" | "partitioned";
}

/** A planned chunk, before it has a number. */
export interface NewChunk {
  schema: string;
  name: string;
  predicate: string | null;
  rowsEstimate: number;
}

/** A table's chunks, numbered 1.. in the given order, in the caller's (planning) transaction. */
export async function insertChunks(
  client: pg.ClientBase,
  tableId: number,
  chunks: readonly NewChunk[],
): Promise<void> {
  await client.query(
    `insert into pgferry.chunks (table_id, chunk_no, schema_name, table_name, predicate, rows_estimate)
     select $1, n, s, t, p, r
       from unnest($2::text[], $3::text[], $4::text[], $5::int8[]) with ordinality as u(s, t, p, r, n)`,
    [
      tableId,
      chunks.map((c) => c.schema),
      chunks.map((c) => c.name),
      chunks.map((c) => c.predicate),
      chunks.map((c) => c.rowsEstimate),
    ],
  );
}

/**
 * In the caller's open transaction: locks the next unfinished chunk of a copying table (SKIP
 * LOCKED: chunks held by other workers or processes are passed over). Most work first: a table's
 * bytes times (1 + its keys and indexes), so its chunks spread over every worker, its index
 * builds overlap the other tables' copies, and the small tables fill the gaps at the end.
 */
export async function lockNextChunk(client: pg.ClientBase): Promise<ChunkClaimRow | undefined> {
  const { rows } = await client.query<{
    table_id: number;
    chunk_no: number;
    schema_name: string;
    table_name: string;
    predicate: string | null;
    root_schema: string;
    root_name: string;
    columns: StoredColumn[];
    identity: string;
    kind: string;
  }>(
    `select c.table_id, c.chunk_no, c.schema_name, c.table_name, c.predicate,
            t.schema_name as root_schema, t.table_name as root_name, t.columns, t.identity, t.kind
       from pgferry.chunks c join pgferry.tables t on t.id = c.table_id
       left join (select table_id, count(*) as n from pgferry.post_data where stage = 'index' group by 1) i
         on i.table_id = t.id
      where not c.done and t.phase = 'copying'
      order by t.bytes_estimate * (1 + coalesce(i.n, 0)) desc, c.table_id, c.chunk_no
      for update of c skip locked limit 1`,
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    tableId: r.table_id,
    chunkNo: r.chunk_no,
    schema: r.schema_name,
    name: r.table_name,
    predicate: r.predicate,
    rootSchema: r.root_schema,
    rootName: r.root_name,
    columns: r.columns,
    identity: r.identity === "row" ? "row" : "key",
    kind: r.kind === "partitioned" ? "partitioned" : "table",
  };
}

/** The done-mark, in the transaction that holds the claim and wrote the chunk's rows. */
export async function markChunkDone(
  client: pg.ClientBase,
  c: { tableId: number; chunkNo: number; rows: number; bytes: number; worker: string },
): Promise<void> {
  await client.query(
    `update pgferry.chunks set done = true, rows = $3, bytes = $4, worker = $5, done_at = now()
      where table_id = $1 and chunk_no = $2`,
    [c.tableId, c.chunkNo, c.rows, c.bytes, c.worker],
  );
}
