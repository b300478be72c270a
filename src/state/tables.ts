import type pg from "pg";
import { literal } from "../db/quote.js";
import { type PhaseMove, unmovedPhase } from "./phase-move.js";
import { COPIED_PHASES, INDEXED_PHASES, type TablePhase } from "./phases.js";

/** A column as stored in the table's row (`columns`): as on the source at prepare, or after DDL. */
export interface StoredColumn {
  name: string;
  /** format_type() on the source, usable as a cast target. */
  type: string;
  generated: boolean;
  identity?: string;
}

/** One replicated table: its row in pgferry.tables. */
export interface TableRow {
  /** The id the source's log uses. */
  id: number;
  schema: string;
  name: string;
  /** 'partitioned': copied through its leaf partitions, streamed through the root. */
  kind: "table" | "partitioned";
  keyColumns: string[];
  /** "row": no key; copied whole in one snapshot, its log holds whole rows (row-sql.ts). */
  identity: "key" | "row";
  /** A keyless table to copy whole at its next window (its log has rows of an older shape). */
  recopy: boolean;
  columns: StoredColumn[];
  /** A signature of the columns; a change on the source means DDL happened. */
  shape: string;
  phase: TablePhase;
  /** txid snapshot text: everything visible in it is applied. Null only before prepare took S0. */
  position: string | null;
  sourceOid: number | null;
  rowsEstimate: number;
  bytesEstimate: number;
  rowsDone: number;
  bytesDone: number;
  changesApplied: number;
  pausedReason: string | null;
}

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** The one mapper of a pgferry.tables row (`select *`, so an older schema's missing columns default). */
export function toTableRow(r: Record<string, unknown>): TableRow {
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
    phase: r["phase"] as TablePhase,
    position: (r["position"] as string | null) ?? null,
    sourceOid: numOrNull(r["source_oid"]),
    rowsEstimate: Number(r["rows_estimate"] ?? 0),
    bytesEstimate: Number(r["bytes_estimate"] ?? 0),
    rowsDone: Number(r["rows_done"] ?? 0),
    bytesDone: Number(r["bytes_done"] ?? 0),
    changesApplied: Number(r["changes_applied"] ?? 0),
    pausedReason: (r["paused_reason"] as string | null) ?? null,
  };
}

/** Every replicated table, by id (the order ids were given) or by name. */
export async function readTables(client: pg.ClientBase, order: "id" | "name" = "id"): Promise<TableRow[]> {
  const by = order === "id" ? "id" : "schema_name, table_name";
  const { rows } = await client.query<Record<string, unknown>>(`select * from pgferry.tables order by ${by}`);
  return rows.map(toTableRow);
}

/** One table; `lock` takes its row in the caller's transaction (share: against a window's commit). */
export async function readTable(
  client: pg.ClientBase,
  id: number,
  lock?: "share",
): Promise<TableRow | undefined> {
  const { rows } = await client.query<Record<string, unknown>>(
    `select * from pgferry.tables where id = $1${lock ? " for share" : ""}`,
    [id],
  );
  return rows[0] ? toTableRow(rows[0]) : undefined;
}

export async function countTables(client: pg.ClientBase, phases?: readonly TablePhase[]): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    phases
      ? "select count(*)::int as n from pgferry.tables where phase = any ($1::text[])"
      : "select count(*)::int as n from pgferry.tables",
    phases ? [phases] : [],
  );
  return rows[0]!.n;
}

/** The id an added table gets: after every id in use (ids are never reused while carried). */
export async function nextTableId(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ id: number }>(
    "select coalesce(max(id), 0) + 1 as id from pgferry.tables",
  );
  return rows[0]!.id;
}

/** A table's row as prepare (or `tables add`) registers it, phase 'pending'. */
export interface NewTableRow {
  id: number;
  schema_name: string;
  table_name: string;
  kind: "table" | "partitioned";
  key_columns: string[];
  identity: "key" | "row";
  columns: StoredColumn[];
  shape: string;
  rows_estimate: number;
  bytes_estimate: number;
}

export async function insertTableRows(client: pg.ClientBase, rows: readonly NewTableRow[]): Promise<void> {
  await client.query(
    `insert into pgferry.tables (id, schema_name, table_name, kind, key_columns, identity, columns, shape, rows_estimate, bytes_estimate)
     select id, schema_name, table_name, kind, key_columns, identity, columns, shape, rows_estimate, bytes_estimate
       from jsonb_to_recordset($1::jsonb) as x(id int, schema_name text, table_name text, kind text,
            key_columns text[], identity text, columns jsonb, shape text, rows_estimate int8, bytes_estimate int8)`,
    [JSON.stringify(rows)],
  );
}

/** Takes tables out of the migration (their chunks and post-data items go with them). */
export async function deleteTables(client: pg.ClientBase, ids: readonly number[]): Promise<void> {
  await client.query("delete from pgferry.tables where id = any ($1::int[])", [ids]);
}

/** Sets the stream position of one table, or of every table (prepare's S0) when id is undefined. */
export async function setTablePosition(
  client: pg.ClientBase,
  id: number | undefined,
  position: string,
): Promise<void> {
  if (id === undefined) await client.query("update pgferry.tables set position = $1", [position]);
  else await client.query("update pgferry.tables set position = $2 where id = $1", [id, position]);
}

/** Columns a table's phase move may set with it. */
export interface TableMoveSet {
  rowsEstimate?: number;
  indexedAt?: true;
  pausedReason?: string | null;
  /** After DDL: the table's name and columns as the source has them now. */
  renamed?: { schema: string; name: string; columns: StoredColumn[]; shape: string; recopy: boolean };
}

function tableAssignments(set: TableMoveSet, params: unknown[]): string {
  const out: string[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (set.rowsEstimate !== undefined) out.push(`rows_estimate = greatest(${p(set.rowsEstimate)}::int8, 0)`);
  if (set.indexedAt) out.push("indexed_at = now()");
  if (set.pausedReason !== undefined) out.push(`paused_reason = ${p(set.pausedReason)}`);
  if (set.renamed) {
    const r = set.renamed;
    out.push(
      `schema_name = ${p(r.schema)}, table_name = ${p(r.name)}, columns = ${p(JSON.stringify(r.columns))}, shape = ${p(r.shape)}, recopy = recopy or ${p(r.recopy)}`,
    );
  }
  return out.map((a) => `, ${a}`).join("");
}

/**
 * Moves one table's phase (and sets `set` with it) when it is in `move.from`. False when the
 * table is gone (removed meanwhile) or in `move.skip`; any other phase throws ILLEGAL_PHASE_MOVE.
 */
export async function moveTable(
  client: pg.ClientBase,
  id: number,
  move: PhaseMove<TablePhase>,
  set: TableMoveSet = {},
): Promise<boolean> {
  const params: unknown[] = [id, move.to, move.from];
  const r = await client.query(
    `update pgferry.tables set phase = $2${tableAssignments(set, params)}
      where id = $1 and phase = any ($3::text[])`,
    params,
  );
  if (r.rowCount) return true;
  const { rows } = await client.query<{ phase: TablePhase; name: string }>(
    "select phase, schema_name || '.' || table_name as name from pgferry.tables where id = $1",
    [id],
  );
  return unmovedPhase(`Table ${rows[0]?.name ?? id}`, rows[0]?.phase, move);
}

/** Inside the caller's transaction: the next table still to plan, locked for this planner. */
export async function claimPendingTable(client: pg.ClientBase): Promise<TableRow | undefined> {
  const { rows } = await client.query<Record<string, unknown>>(
    `select * from pgferry.tables where phase = 'pending'
      order by bytes_estimate desc, id for update skip locked limit 1`,
  );
  return rows[0] ? toTableRow(rows[0]) : undefined;
}

/** Copied tables not yet indexed, biggest first: what the index workers claim. */
export async function tablesToIndex(client: pg.ClientBase): Promise<number[]> {
  const { rows } = await client.query<{ id: number }>(
    "select id from pgferry.tables where phase in ('copied', 'indexing') order by bytes_estimate desc, id",
  );
  return rows.map((r) => r.id);
}

/**
 * copying → copied, set-based: every copying table whose chunks are all done, with exact
 * totals. Run after each chunk commit (the last committer always sees every other commit) and
 * when idle (a process killed between a chunk commit and this update leaves it for the next one).
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

/**
 * SQL text (for a batched round trip) that opens the apply transaction's read of one table:
 * its row, locked, if the stream applies it. Returns the `select *` row as the last result.
 */
export function lockAppliedTableSql(tableId: number, lock: "for update" | "for update skip locked"): string {
  return `select * from pgferry.tables
        where id = ${Math.trunc(tableId)} and phase in ('indexed', 'streaming') ${lock}`;
}

/**
 * SQL text for the end of a window, committed with its rows: the table's new position, phase
 * 'streaming' (from 'indexed' or 'streaming', locked by lockAppliedTableSql), its counts.
 */
export function windowAppliedSql(
  tableId: number,
  w: { position: string; changes: number; sourceOid: number; done: boolean; beat: string | null },
): string {
  const n = Math.trunc(w.changes);
  return `update pgferry.tables set position = ${literal(w.position)}, phase = 'streaming', recopy = false,
      changes_applied = changes_applied + ${n}, last_window_at = now(),
      streaming_since = coalesce(streaming_since, now()), source_oid = ${Number(w.sourceOid)},
      ${w.done ? `pending_changes = 0, beat_at = coalesce(${w.beat === null ? "null" : `${literal(w.beat)}::timestamptz`}, beat_at)` : `pending_changes = greatest(coalesce(pending_changes, 0) - ${n}, 0)`}
    where id = ${Math.trunc(tableId)}`;
}

/**
 * Tables with nothing to apply up to q move to it at once (indexed or streaming → streaming),
 * if their position is still the one the caller saw; rows a worker holds are skipped.
 */
export async function advanceIdleTables(
  client: pg.ClientBase,
  idle: readonly { id: number; position: string }[],
  q: string,
  beat: string | null,
): Promise<{ id: number; was: TablePhase; name: string }[]> {
  const { rows } = await client.query<{
    id: number;
    was: TablePhase;
    schema_name: string;
    table_name: string;
  }>({
    name: "pgferry_stream_advance",
    text: `
with cand as (
  select t.id, t.phase as was
    from pgferry.tables t join unnest($1::int[], $2::text[]) as x(id, p) on t.id = x.id and t.position = x.p
   where t.phase in ('indexed', 'streaming') and not t.recopy
   for update of t skip locked)
update pgferry.tables t
   set position = $3, phase = 'streaming', beat_at = coalesce($4::timestamptz, t.beat_at), pending_changes = 0,
       last_window_at = now(), streaming_since = coalesce(t.streaming_since, now())
  from cand where t.id = cand.id
returning t.id, cand.was, t.schema_name, t.table_name`,
    values: [idle.map((t) => t.id), idle.map((t) => t.position), q, beat],
  });
  return rows.map((r) => ({ id: r.id, was: r.was, name: `${r.schema_name}.${r.table_name}` }));
}

/** Pending log rows per table; rows a worker holds are skipped rather than waited for. */
export async function storePendingCounts(
  client: pg.ClientBase,
  pending: ReadonlyMap<number, number>,
): Promise<void> {
  const ids = [...pending.keys()];
  await client.query(
    `update pgferry.tables t set pending_changes = x.n
       from unnest($1::int[], $2::int8[]) as x(id, n)
      where t.id = x.id and t.id in (select id from pgferry.tables where id = any ($1::int[]) for update skip locked)`,
    [ids, ids.map((id) => pending.get(id) ?? 0)],
  );
}

/** Sum of changes applied over every table. */
export async function totalChangesApplied(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    "select coalesce(sum(changes_applied), 0)::text as n from pgferry.tables",
  );
  return Number(rows[0]!.n);
}

/** Records source oids of tables that lack one; rows a worker holds are skipped (next time). */
export async function storeSourceOids(
  client: pg.ClientBase,
  found: readonly { id: number; oid: string | null }[],
): Promise<void> {
  await client.query(
    `update pgferry.tables t set source_oid = x.oid from unnest($1::int[], $2::int8[]) as x(id, oid)
      where t.id = x.id and t.source_oid is null
        and t.id in (select id from pgferry.tables where id = any ($1::int[]) for update skip locked)`,
    [found.map((r) => r.id), found.map((r) => r.oid)],
  );
}

/** Totals over every table, for the final report. */
export async function tableTotals(
  client: pg.ClientBase,
): Promise<{ n: string; rows: string; bytes: string; changes: string }> {
  const { rows } = await client.query<{ n: string; rows: string; bytes: string; changes: string }>(
    `select count(*)::text as n, coalesce(sum(rows_done), 0)::text as rows,
            coalesce(sum(bytes_done), 0)::text as bytes, coalesce(sum(changes_applied), 0)::text as changes
       from pgferry.tables`,
  );
  return rows[0]!;
}
