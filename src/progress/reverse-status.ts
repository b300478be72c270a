import type pg from "pg";
import { changesAfter } from "../positions/index.js";
import type { StatusReport } from "./status-model.js";

type Row = Record<string, unknown>;

/**
 * The rollback window's reverse stream as the target sees it (issue 13): the target's writes
 * captured there and not yet applied back to the source (after the reverse position the last
 * round noted here, 011_reverse_stream.sql), and how long the oldest of them may have waited.
 * Undefined outside an open rollback window.
 */
export async function readReverse(client: pg.ClientBase, m: Row): Promise<StatusReport["reverse"]> {
  if (m["phase"] !== "switched" || m["rollback_window"] !== true) return undefined;
  const position = (m["reverse_position"] as string | null) ?? null;
  const has = await client.query<{ ok: boolean }>("select to_regclass('pgferry.changes') is not null as ok");
  let pending: number | null = null;
  if (has.rows[0]?.ok && position) {
    const { rows } = await client.query<{ n: string }>(
      `select count(*)::text as n from pgferry.changes c where ${changesAfter("$1::txid_snapshot")}`,
      [position],
    );
    pending = Number(rows[0]!.n);
  }
  const appliedAt = (m["reverse_applied_at"] as Date | null | undefined) ?? null;
  const since = appliedAt ?? (m["switched_at"] as Date | null) ?? null;
  // Nothing waiting: nothing is behind. Otherwise at most since the last round that applied.
  const lagSeconds =
    pending === 0 ? 0 : since ? Math.max(0, (Number(m["now_ms"]) - new Date(since).getTime()) / 1000) : null;
  return {
    lagSeconds,
    pendingChanges: pending,
    changesApplied: Number(m["reverse_changes_applied"] ?? 0),
    lastAppliedAt: appliedAt ? new Date(appliedAt).toISOString() : null,
    endsWith: "`pgferry rollback` (back to the source) or `pgferry cleanup` (stay on the target)",
  };
}
