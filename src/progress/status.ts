import type pg from "pg";
import { PgferryError } from "../errors/index.js";
import {
  COPIED_PHASES,
  CUT_OVER_PHASES,
  controlColumns,
  phaseIn,
  readChunkRates,
  readMigrationIfAny,
  readShownEvents,
  readStartLiveness,
  readTableProgress,
} from "../state/index.js";
import { readFences, readOperation } from "./operation-status.js";
import { readReverse } from "./reverse-status.js";
import type { StatusReport, TableStatus } from "./status-model.js";

/** Rates are measured over the chunks finished in this window (seconds). */
const RATE_WINDOW_S = 60;
const ERRORS_SHOWN = 20;

function num(v: unknown): number {
  return v === null || v === undefined ? 0 : Number(v);
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function tableStatus(r: Record<string, unknown>): TableStatus {
  const copied = phaseIn(COPIED_PHASES, r["phase"] as string);
  const rowsDone = copied ? num(r["rows_done"]) : num(r["chunk_rows"]);
  const bytesDone = copied ? num(r["bytes_done"]) : num(r["chunk_bytes"]);
  const t: TableStatus = {
    name: `${r["schema_name"]}.${r["table_name"]}`,
    phase: r["phase"] as string,
    rowsDone,
    rowsTotal: copied ? rowsDone : Math.max(num(r["rows_estimate"]), rowsDone),
    bytesDone,
    bytesTotal: copied ? bytesDone : Math.max(num(r["bytes_estimate"]), bytesDone),
    pendingChanges: numOrNull(r["pending_changes"]),
    changesApplied: num(r["changes_applied"]),
  };
  if (r["paused_reason"]) t.pausedReason = r["paused_reason"] as string;
  // Streaming tables only: the age of the last source heartbeat this table's windows applied.
  if (r["beat_age"] !== null && (r["phase"] === "streaming" || r["phase"] === "paused"))
    t.lagSeconds = Math.max(0, num(r["beat_age"]));
  return t;
}

/**
 * Where the migration stands, read from the target's control schema only (no source
 * connection: status works from any shell, even when the source is unreachable).
 */
export async function readStatus(client: pg.ClientBase): Promise<StatusReport> {
  const m = await readMigrationIfAny(client);
  if (!m)
    throw new PgferryError("NOT_PREPARED", "There is no pgferry migration on this target.", {
      side: "target",
    });
  const cols = await controlColumns(client);
  const tablesRes = { rows: await readTableProgress(client) };
  const rates = await readChunkRates(client, RATE_WINDOW_S);
  const windowS = rates[0] ? num(rates[0]["window"]) : 1;
  const rateOf = new Map(rates.map((r) => [num(r["table_id"]), num(r["bytes"]) / windowS]));
  const tables = tablesRes.rows.map((r) => {
    const t = tableStatus(r);
    const bps = rateOf.get(num(r["id"]));
    if (bps !== undefined) t.bytesPerSecond = Math.round(bps);
    return t;
  });
  const rate = {
    bytes: rates.reduce((a, r) => a + num(r["bytes"]), 0),
    rows: rates.reduce((a, r) => a + num(r["rows"]), 0),
    window: windowS,
  };
  // A new source table the stream saw stays shown until `pgferry tables` adds or removes it.
  const errs = { rows: await readShownEvents(client, ERRORS_SHOWN) };
  const sum = (f: (t: TableStatus) => number) => tables.reduce((a, t) => a + f(t), 0);
  const chunksDone = tablesRes.rows.reduce((a, r) => a + num(r["chunks_done"]), 0);
  const chunksTotal = tablesRes.rows.reduce((a, r) => a + num(r["chunks_total"]), 0);
  const rowsDone = sum((t) => t.rowsDone);
  const rowsTotal = sum((t) => t.rowsTotal);
  const rowsPerSecond = rate.rows / rate.window;
  const pending = tables.some((t) => t.pendingChanges !== null) ? sum((t) => t.pendingChanges ?? 0) : null;
  const live = await readStartLiveness(client);
  const report: StatusReport = {
    phase: m.phase,
    source: m.source_display,
    lagSeconds: lagSeconds(m, cols),
    pendingChanges: cols.has("migration.pending_changes") ? numOrNull(m.pending_changes) : pending,
    copy: {
      rowsDone,
      rowsTotal,
      bytesDone: sum((t) => t.bytesDone),
      bytesTotal: sum((t) => t.bytesTotal),
      bytesPerSecond: Math.round(rate.bytes / rate.window),
      etaSeconds: copyEta(m.phase, rowsTotal - rowsDone, rowsPerSecond),
      chunksDone,
      chunksTotal,
    },
    stream: {
      changesApplied: sum((t) => t.changesApplied),
      changesPerSecond: cols.has("migration.stream_rate") ? num(m.stream_rate) : 0,
    },
    startRunning: live.running,
    startLastSeenSeconds: live.lastSeenSeconds,
    startLastSeenAt: live.lastSeenAt,
    starts: live.processes,
    tables,
    errors: errs.rows.reverse().map((e) => ({ at: new Date(e.at).toISOString(), message: e.message })),
  };
  if (cols.has("migration.log_bytes") && m.log_bytes !== null && m.log_measured_at) {
    report.changeLog = { bytes: num(m.log_bytes), measuredAt: new Date(m.log_measured_at).toISOString() };
    // Since 010_change_log_rows: the statistics' estimate, measured with the bytes.
    if (m.log_rows !== null && m.log_rows !== undefined) report.changeLog.rows = num(m.log_rows);
  }
  if (m.fence_raised_at || m.switched_at) {
    report.cutover = {
      fenceRaisedAt: m.fence_raised_at ? new Date(m.fence_raised_at).toISOString() : null,
      switchedAt: m.switched_at ? new Date(m.switched_at).toISOString() : null,
      unavailableMs: numOrNull(m.unavailable_ms),
    };
  }
  const fences = await readFences(client, m);
  if (fences) report.fences = fences;
  const operation = await readOperation(client, m, fences);
  if (operation) report.operation = operation;
  if (phaseIn(CUT_OVER_PHASES, m.phase)) afterSwitch(report, await readReverse(client, m));
  return report;
}

/**
 * After the switch the forward stream is over: its lag (the age of the last source heartbeat
 * applied) would only grow, and every table would still read `streaming`. The tables are
 * cut over; lag and pending are the reverse stream's in a rollback window, null otherwise.
 */
function afterSwitch(report: StatusReport, reverse: StatusReport["reverse"]): void {
  for (const t of report.tables) {
    if (t.phase === "streaming" || t.phase === "indexed") t.phase = report.phase;
    t.pendingChanges = null;
  }
  report.lagSeconds = reverse?.lagSeconds ?? null;
  report.pendingChanges = reverse?.pendingChanges ?? null;
  if (reverse) report.reverse = reverse;
}

function copyEta(phase: string, rowsLeft: number, rowsPerSecond: number): number | null {
  if (phase !== "preparing" && phase !== "copying") return phase === "indexing" || rowsLeft <= 0 ? 0 : null;
  if (rowsLeft <= 0) return 0;
  return rowsPerSecond > 0 ? Math.round(rowsLeft / rowsPerSecond) : null;
}

/**
 * Lag: the age, now, of the last source heartbeat the stream applied (a source timestamp
 * replicated like a row, so its age on the target is how far behind the target is; it keeps
 * growing when no stream runs). Without one, the stream's last measured lag_seconds, if any.
 */
function lagSeconds(m: Record<string, unknown>, cols: Set<string>): number | null {
  const age = m["heartbeat_age"];
  if (age !== null && age !== undefined) return Math.max(0, Number(age));
  if (cols.has("migration.lag_seconds") && m["lag_seconds"] !== null) return Number(m["lag_seconds"]);
  return null;
}
