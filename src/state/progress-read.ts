import type pg from "pg";

/**
 * What status reads of the tables and their chunks in one statement: each table's row with
 * its chunk totals (`select`'s raw row, mapped by progress/status.ts).
 */
const TABLES_SQL = `
select t.id, t.schema_name, t.table_name, t.phase, t.rows_estimate, t.bytes_estimate, t.rows_done, t.bytes_done,
       t.changes_applied, t.paused_reason, %EXTRA%,
       coalesce(c.rows, 0)::int8 as chunk_rows, coalesce(c.bytes, 0)::int8 as chunk_bytes,
       coalesce(c.done, 0)::int8 as chunks_done, coalesce(c.total, 0)::int8 as chunks_total
  from pgferry.tables t
  left join (select table_id, sum(rows) filter (where done) as rows, sum(bytes) filter (where done) as bytes,
                    count(*) filter (where done) as done, count(*) as total
               from pgferry.chunks group by table_id) c on c.table_id = t.id
 order by t.id`;

const RATE_SQL = `
select table_id, coalesce(sum(bytes), 0)::int8 as bytes, coalesce(sum(rows), 0)::int8 as rows,
       greatest(1, least($1::float8, extract(epoch from now() - (select copy_started_at from pgferry.migration))))::float8 as window
  from pgferry.chunks where done and done_at > now() - make_interval(secs => $1)
 group by table_id`;

/**
 * "tables.<column>" and "migration.<column>" of the control schema as it is: columns later
 * numbered files add are read only when present (status reads a schema it does not upgrade).
 */
export async function controlColumns(client: pg.ClientBase): Promise<Set<string>> {
  const { rows } = await client.query<{ c: string }>(
    `select table_name || '.' || column_name as c from information_schema.columns
      where table_schema = 'pgferry' and table_name in ('tables', 'migration')`,
  );
  return new Set(rows.map((r) => r.c));
}

/** Each table with its chunk totals, pending changes and beat age (null on an older schema). */
export async function readTableProgress(client: pg.ClientBase): Promise<Record<string, unknown>[]> {
  const cols = await controlColumns(client);
  const extra = [
    cols.has("tables.pending_changes") ? "t.pending_changes" : "null::int8 as pending_changes",
    cols.has("tables.beat_at")
      ? "extract(epoch from now() - t.beat_at)::float8 as beat_age"
      : "null::float8 as beat_age",
  ].join(", ");
  return (await client.query<Record<string, unknown>>(TABLES_SQL.replace("%EXTRA%", extra))).rows;
}

/** Bytes and rows per table over the chunks finished in the last `windowS` seconds. */
export async function readChunkRates(
  client: pg.ClientBase,
  windowS: number,
): Promise<Record<string, unknown>[]> {
  return (await client.query<Record<string, unknown>>(RATE_SQL, [windowS])).rows;
}

/** A row of readApplyState's query. */
export interface ApplyStateRow {
  position: string | null;
  phase: string;
  paused_reason: string | null;
  migration_phase: string;
  applier: boolean;
}

/**
 * One table's position and phase with the migration's phase, and whether another session
 * named in `appliers` is on the target (verify's wait for the stream: applied.ts).
 */
export async function readApplyState(
  client: pg.ClientBase,
  tableId: number,
  appliers: readonly string[],
): Promise<ApplyStateRow | undefined> {
  const { rows } = await client.query<ApplyStateRow>(
    `select t.position, t.phase, t.paused_reason, m.phase as migration_phase,
            exists (select 1 from pg_stat_activity a
                     where a.datname = current_database() and a.application_name = any ($2::text[])
                       and a.pid <> pg_backend_pid()) as applier
       from pgferry.tables t cross join pgferry.migration m
      where t.id = $1`,
    [tableId, appliers],
  );
  return rows[0];
}
