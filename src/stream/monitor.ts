import type pg from "pg";
import { changesAfter } from "../positions/index.js";
import { storePendingCounts, storeStreamFigures, totalChangesApplied } from "../state/index.js";

export interface Positioned {
  id: number;
  position: string;
}

/**
 * Log rows not yet applied, per table: committed rows not visible in its position. Counted on
 * the capture side; stored on the apply side so status reads one database.
 */
export async function countPending(
  read: pg.ClientBase,
  tables: readonly Positioned[],
): Promise<Map<number, number>> {
  if (tables.length === 0) return new Map();
  const { rows } = await read.query<{ id: number; n: string }>(
    `select x.id, (select count(*) from pgferry.changes c
                    where c.tbl = x.id and ${changesAfter("x.p::txid_snapshot")})::text as n
       from unnest($1::int[], $2::text[]) as x(id, p)`,
    [tables.map((t) => t.id), tables.map((t) => t.position)],
  );
  return new Map(rows.map((r) => [r.id, Number(r.n)]));
}

/** Bytes of the capture side's change log (table and index). */
export async function changeLogBytes(read: pg.ClientBase): Promise<number> {
  const { rows } = await read.query<{ n: string }>(
    "select pg_total_relation_size('pgferry.changes')::int8::text as n",
  );
  return Number(rows[0]!.n);
}

/**
 * Rows in the capture side's change log: the statistics' live-row estimate (kept current as
 * rows come and go), as a count(*) of a large log would scan it every few seconds.
 */
export async function changeLogRows(read: pg.ClientBase): Promise<number | null> {
  const { rows } = await read.query<{ n: string | null }>(
    "select n_live_tup::text as n from pg_stat_user_tables where relid = 'pgferry.changes'::regclass",
  );
  return rows[0]?.n == null ? null : Number(rows[0].n);
}

/**
 * Stores pending counts, the migration's heartbeat (the oldest beat any streaming or paused
 * table has reached: a paused table holds the lag up, as it should), lag and rate. Rows a
 * worker holds are skipped rather than waited for.
 */
export async function storeStreamStatus(
  write: pg.ClientBase,
  pending: Map<number, number>,
  rate: number | null,
  logBytes?: number,
  logRows?: number | null,
): Promise<void> {
  await storePendingCounts(write, pending);
  await storeStreamFigures(write, {
    pending: [...pending.values()].reduce((a, b) => a + b, 0),
    rate,
    logBytes: logBytes ?? null,
    logRows: logRows ?? null,
  });
}

/** Sum of changes_applied, for the rate. */
export async function appliedTotal(write: pg.ClientBase): Promise<number> {
  return totalChangesApplied(write);
}

/**
 * Deletes log rows every table has applied (txid below the xmin of its position), in small
 * batches so no statement holds many row locks or runs long; stops after `budgetMs`.
 * Heartbeat rows (id 0) are never read back (the beat is read from its table), so any
 * committed one goes.
 */
export async function cleanupLog(
  read: pg.ClientBase,
  tables: readonly Positioned[],
  batch: number,
  budgetMs: number,
): Promise<number> {
  const deadline = Date.now() + budgetMs;
  let deleted = 0;
  const work = [{ id: 0, position: null as string | null }, ...tables];
  for (const w of work) {
    const bound = w.position === null ? "txid_current_snapshot()" : "$2::txid_snapshot";
    const params = w.position === null ? [w.id, batch] : [w.id, w.position, batch];
    for (;;) {
      if (Date.now() > deadline) return deleted;
      const r = await read.query(
        `delete from pgferry.changes where ctid = any (array(
           select ctid from pgferry.changes where tbl = $1 and txid < txid_snapshot_xmin(${bound})
            limit $${params.length}))`,
        params,
      );
      deleted += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < batch) break;
    }
  }
  return deleted;
}
