import type pg from "pg";
import { FENCE_DOWN_SQL, FENCE_UP_SQL, fenceState, markDdlSession } from "../capture/index.js";
import { sleep } from "../db/index.js";
import { PgferryError, type Side } from "../errors/index.js";

export { type FenceState, fenceState } from "../capture/index.js";

/** What the drain waits for: set right after the fence went up. */
export interface Fence {
  /** Local clock just before the fence was raised: every write refused by it fails after this. */
  raisedAt: Date;
  /** A txid taken right after the fence committed; every older transaction must end. */
  txid: string;
  /** Transactions holding a write lock on a captured relation when the fence went up. */
  writers: string[];
}

// Virtual transactions of other sessions holding a lock that allows writing to a relation
// that carries pgferry capture triggers (fast-path locks are listed too).
const WRITERS_SQL = `
select coalesce(array_agg(distinct l.virtualtransaction), '{}') as vx
  from pg_locks l
 where l.locktype = 'relation' and l.pid is distinct from pg_backend_pid()
   and l.mode in ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
   and l.relation in (select tgrelid from pg_trigger where tgname = 'pgferry_capture_ins')`;

/**
 * Raises the write fence: replaces pgferry.fence() with the version that raises SQLSTATE
 * 25006. plpgsql sees the new definition at the next call in every session, so from the
 * commit on, every write on a captured table fails at once. Reads are not affected.
 */
export async function raiseFence(client: pg.ClientBase, side: Side): Promise<Fence> {
  if ((await fenceState(client)) === "absent") {
    throw new PgferryError("NOT_PREPARED", `The ${side} has no pgferry capture schema: nothing to fence.`, {
      side,
    });
  }
  const raisedAt = new Date();
  // Replacing the capture functions is DDL: an event trigger that writes into a captured
  // table fires on it, and its writes must be logged, not fenced (issue 12).
  await markDdlSession(client);
  await client.query(FENCE_UP_SQL);
  const { rows } = await client.query<{ txid: string; vx: string[] }>(
    `select txid_current()::text as txid, (${WRITERS_SQL}) as vx`,
  );
  return { raisedAt, txid: rows[0]!.txid, writers: rows[0]!.vx };
}

export async function lowerFence(client: pg.ClientBase): Promise<void> {
  if ((await fenceState(client)) === "absent") return;
  await markDdlSession(client);
  await client.query(FENCE_DOWN_SQL);
}

export interface Straggler {
  pid: number | null;
  applicationName: string;
  state: string;
  seconds: number | null;
}

export interface DrainOptions {
  timeoutMs: number;
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Waits until every transaction that could have written before the fence has ended: all
 * txids older than the fence's (snapshot xmin passes it), and every transaction that held
 * a write lock on a captured table at that moment (one that had not yet been given a txid
 * is caught this way). On timeout, throws FENCE_TIMEOUT naming the sessions still open; the
 * caller lowers the fence.
 */
export async function drainWriters(
  client: pg.ClientBase,
  fence: Fence,
  side: Side,
  opts: DrainOptions,
): Promise<number> {
  const started = Date.now();
  const poll = opts.pollMs ?? 20;
  for (;;) {
    const { rows } = await client.query<{ xmin_passed: boolean; open: string[] }>(
      `select txid_snapshot_xmin(txid_current_snapshot()) > $1::bigint as xmin_passed,
              coalesce((select array_agg(distinct virtualtransaction) from pg_locks
                         where virtualtransaction = any ($2::text[])), '{}') as open`,
      [fence.txid, fence.writers],
    );
    if (rows[0]!.xmin_passed && rows[0]!.open.length === 0) return Date.now() - started;
    if (Date.now() - started > opts.timeoutMs) {
      const who = await stragglers(client, fence);
      const list = who.map(
        (s) =>
          `pid ${s.pid ?? "?"} (${s.applicationName || "no name"}, ${s.state}${s.seconds === null ? "" : `, ${s.seconds}s`})`,
      );
      throw new PgferryError(
        "FENCE_TIMEOUT",
        `Transactions that wrote before the fence did not finish within ${(opts.timeoutMs / 1000).toFixed(opts.timeoutMs < 10_000 ? 1 : 0)}s${list.length ? `: ${list.join(", ")}` : ""}.`,
        { side },
      );
    }
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("interrupted");
    await sleep(poll, opts.signal);
  }
}

/** The sessions the drain still waits for (details are visible for the same role only). */
async function stragglers(client: pg.ClientBase, fence: Fence): Promise<Straggler[]> {
  const { rows } = await client.query<{
    pid: number | null;
    app: string | null;
    state: string | null;
    seconds: number | null;
  }>(
    `select a.pid, a.application_name as app, a.state, extract(epoch from now() - a.xact_start)::int as seconds
       from pg_stat_activity a
      where a.pid <> pg_backend_pid()
        and ((a.backend_xid is not null and a.backend_xid::text::bigint < ($1::bigint % 4294967296))
             or a.pid in (select l.pid from pg_locks l where l.virtualtransaction = any ($2::text[])))
      order by a.xact_start`,
    [fence.txid, fence.writers],
  );
  // Prepared (two-phase) transactions hold the horizon too, without a session.
  const prepared = await client
    .query<{ gid: string; seconds: number }>(
      "select gid, extract(epoch from now() - prepared)::int as seconds from pg_prepared_xacts order by prepared",
    )
    .then((r) => r.rows)
    .catch(() => []);
  return [
    ...rows.map((r) => ({
      pid: r.pid,
      applicationName: r.app ?? "",
      state: r.state ?? "hidden",
      seconds: r.seconds,
    })),
    ...prepared.map((p) => ({
      pid: null,
      applicationName: `prepared transaction ${p.gid}`,
      state: "prepared",
      seconds: p.seconds,
    })),
  ];
}
