import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { openSessions } from "../db/open-sessions.js";
import { ERROR_CODES } from "../errors/index.js";
import type { PgferryEvent } from "../progress/events.js";
import type { StatusReport } from "../progress/status-model.js";
import { INDEXED_PHASES, MIGRATION_PHASES, phaseIn, TABLE_PHASES } from "../state/phases.js";

/** Every migration phase ("none": no migration), so each has a series (0 or 1) from the first scrape on. */
export const PHASES = ["none", ...MIGRATION_PHASES] as const;
/** A table's keys and indexes are built once it has reached one of these. */
/** Window durations: a small window takes milliseconds, a cut backlog window seconds. */
const WINDOW_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface TableTotals {
  rows: number;
  bytes: number;
  changes: number;
}

/**
 * The Prometheus metrics of one pgferry process, fed by its events (the same stream the CLI
 * renders) and by the status read model they carry. Own registry, never prom-client's global
 * one: an embedding program keeps its own metrics apart.
 */
export class MonitorMetrics {
  readonly registry = new Registry();
  private readonly tables = new Map<string, TableTotals>();
  private readonly errorsSeen = new Set<string>();
  private errorsBaseline = false;

  private readonly g = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [this.registry] });
  private readonly c = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [this.registry] });

  private readonly info = this.g("pgferry_info", "Always 1: this process's role and pgferry version.", [
    "role",
    "version",
  ]);
  private readonly phase = this.g("pgferry_phase", "1 for the migration's current phase, 0 for the others.", [
    "phase",
  ]);
  private readonly tablesByPhase = this.g("pgferry_tables", "Tables of the migration in each phase.", [
    "phase",
  ]);
  private readonly rowsCopied = this.c("pgferry_copy_rows_total", "Rows copied, per table.", ["table"]);
  private readonly bytesCopied = this.c("pgferry_copy_bytes_total", "Bytes copied (COPY text), per table.", [
    "table",
  ]);
  private readonly rowsExpected = this.g(
    "pgferry_copy_expected_rows",
    "Rows to copy per table: the estimate until the table is copied, then the rows copied.",
    ["table"],
  );
  private readonly bytesExpected = this.g(
    "pgferry_copy_expected_bytes",
    "Bytes to copy per table: the estimate until the table is copied, then the bytes copied.",
    ["table"],
  );
  private readonly chunksDone = this.g("pgferry_copy_chunks_done", "Copy chunks done.");
  private readonly chunksPlanned = this.g("pgferry_copy_chunks_planned", "Copy chunks planned so far.");
  private readonly copyRate = this.g(
    "pgferry_copy_throughput_bytes_per_second",
    "Copy throughput over the last minute, all tables.",
  );
  private readonly copyEta = this.g(
    "pgferry_copy_eta_seconds",
    "Estimated seconds until the copy is done (absent while unknown).",
  );
  private readonly indexDone = this.g(
    "pgferry_index_builds_done",
    "Tables whose keys and indexes are built (phase indexed, streaming or paused).",
  );
  private readonly indexPlanned = this.g(
    "pgferry_index_builds_planned",
    "Tables whose keys and indexes pgferry builds.",
  );
  private readonly changesApplied = this.c(
    "pgferry_stream_changes_applied_total",
    "Captured changes applied to the target, per table.",
    ["table"],
  );
  private readonly changeRate = this.g(
    "pgferry_stream_changes_per_second",
    "Changes applied per second, as the stream last measured it.",
  );
  private readonly pending = this.g(
    "pgferry_stream_pending_changes",
    "Captured changes not yet applied, all tables (absent until measured).",
  );
  private readonly tablePending = this.g(
    "pgferry_table_pending_changes",
    "Captured changes not yet applied, per streaming table.",
    ["table"],
  );
  private readonly lag = this.g(
    "pgferry_stream_lag_seconds",
    "How far the target is behind the source: the age of the last source heartbeat applied (absent while unknown).",
  );
  private readonly tableLag = this.g(
    "pgferry_table_lag_seconds",
    "Per streaming table: the age of the last source heartbeat its windows applied.",
    ["table"],
  );
  private readonly windowSeconds = new Histogram({
    name: "pgferry_stream_window_apply_duration_seconds",
    help: "Time to read and apply one window of changes, in this process (direction forward: one table; reverse: one round).",
    labelNames: ["direction"],
    buckets: WINDOW_BUCKETS,
    registers: [this.registry],
  });
  private readonly windowChanges = this.c(
    "pgferry_stream_window_changes_total",
    "Changes applied by this process's windows, by direction (reverse: streamed back to the source).",
    ["direction"],
  );
  private readonly logRows = this.g(
    "pgferry_capture_log_rows",
    "Rows in the source's change log (the statistics' estimate; absent until measured).",
  );
  private readonly logBytes = this.g(
    "pgferry_capture_log_bytes",
    "Size of the source's change log, table and index (absent until measured).",
  );
  private readonly lockWaits = this.c(
    "pgferry_lock_waits_total",
    "Rounds in which installing a capture trigger waited for a table lock, per table.",
    ["table"],
  );
  private readonly retries = this.c(
    "pgferry_retries_total",
    "Transient failures this process retried, by side and code (catalogue code or SQLSTATE; UNKNOWN when none).",
    ["side", "code"],
  );
  private readonly stalls = this.c(
    "pgferry_stalls_total",
    "Sessions closed because their path or server stopped answering, by side.",
    ["side"],
  );
  private readonly errors = this.c(
    "pgferry_errors_total",
    "Errors recorded in the migration's event log since this process started serving, by code (UNCLASSIFIED when the entry names none).",
    ["code"],
  );
  private readonly startRunning = this.g(
    "pgferry_start_running",
    "1 when a `pgferry start` beat on the target within the staleness bound.",
  );
  private readonly statusTime = this.g(
    "pgferry_status_timestamp_seconds",
    "When the figures above were last read from the target (Unix time).",
  );

  constructor(role: "start" | "status", version: string) {
    this.info.set({ role, version }, 1);
    for (const p of PHASES) this.phase.set({ phase: p }, 0);
    for (const p of TABLE_PHASES) this.tablesByPhase.set({ phase: p }, 0);
    for (const v of [this.copyEta, this.pending, this.lag, this.logRows, this.logBytes]) v.remove();
    for (const direction of ["forward", "reverse"]) {
      this.windowChanges.inc({ direction }, 0);
      this.windowSeconds.zero({ direction });
    }
    new Gauge({
      name: "pgferry_connections",
      help: "Database sessions this process holds open, by side.",
      labelNames: ["side"],
      registers: [this.registry],
      collect() {
        const open = openSessions();
        this.set({ side: "source" }, open.source);
        this.set({ side: "target" }, open.target);
      },
    });
    // process_start_time_seconds among them, with the prefix: pgferry_process_start_time_seconds.
    collectDefaultMetrics({ register: this.registry, prefix: "pgferry_" });
  }

  observe(e: PgferryEvent): void {
    if (e.type === "progress") this.fromStatus(e.status);
    else if (e.type === "stream:window") {
      this.windowSeconds.observe({ direction: e.direction }, e.seconds);
      this.windowChanges.inc({ direction: e.direction }, e.changes);
    } else if (e.type === "lock:wait") this.lockWaits.inc({ table: e.table });
    else if (e.type === "retry") this.retries.inc({ side: e.side, code: e.code ?? "UNKNOWN" });
    else if (e.type === "stall") this.stalls.inc({ side: e.side });
  }

  private fromStatus(s: StatusReport): void {
    this.statusTime.set(Date.now() / 1000);
    for (const p of PHASES) this.phase.set({ phase: p }, 0);
    this.phase.set({ phase: s.phase }, 1);
    const byPhase = new Map<string, number>(TABLE_PHASES.map((p) => [p, 0]));
    for (const t of s.tables) byPhase.set(t.phase, (byPhase.get(t.phase) ?? 0) + 1);
    for (const [phase, n] of byPhase) this.tablesByPhase.set({ phase }, n);
    this.tablePending.reset();
    this.tableLag.reset();
    for (const t of s.tables) {
      const table = t.name;
      const seen = this.tables.get(table) ?? { rows: 0, bytes: 0, changes: 0 };
      // Counters only go up: a figure that went down (a chunk copied again) adds nothing.
      this.rowsCopied.inc({ table }, Math.max(0, t.rowsDone - seen.rows));
      this.bytesCopied.inc({ table }, Math.max(0, t.bytesDone - seen.bytes));
      this.changesApplied.inc({ table }, Math.max(0, t.changesApplied - seen.changes));
      this.tables.set(table, {
        rows: Math.max(seen.rows, t.rowsDone),
        bytes: Math.max(seen.bytes, t.bytesDone),
        changes: Math.max(seen.changes, t.changesApplied),
      });
      this.rowsExpected.set({ table }, t.rowsTotal);
      this.bytesExpected.set({ table }, t.bytesTotal);
      if (t.pendingChanges !== null && (t.phase === "streaming" || t.phase === "paused"))
        this.tablePending.set({ table }, t.pendingChanges);
      if (t.lagSeconds !== undefined) this.tableLag.set({ table }, t.lagSeconds);
    }
    this.chunksDone.set(s.copy.chunksDone);
    this.chunksPlanned.set(s.copy.chunksTotal);
    this.copyRate.set(s.copy.bytesPerSecond);
    known(this.copyEta, s.copy.etaSeconds);
    this.indexDone.set(s.tables.filter((t) => phaseIn(INDEXED_PHASES, t.phase)).length);
    this.indexPlanned.set(s.tables.length);
    this.changeRate.set(s.stream.changesPerSecond);
    known(this.pending, s.pendingChanges);
    known(this.lag, s.lagSeconds);
    known(this.logBytes, s.changeLog?.bytes);
    known(this.logRows, s.changeLog?.rows);
    this.startRunning.set(s.startRunning ? 1 : 0);
    this.countErrors(s.errors);
  }

  /** The status carries the last errors; those that appear after the first status are new. */
  private countErrors(errors: StatusReport["errors"]): void {
    for (const e of errors) {
      const key = `${e.at}\u0000${e.message}`;
      if (this.errorsSeen.has(key)) continue;
      this.errorsSeen.add(key);
      if (this.errorsBaseline) this.errors.inc({ code: errorCode(e.message) });
    }
    this.errorsBaseline = true;
  }
}

/**
 * Sets a gauge, or leaves it without a sample while the figure is unknown (prom-client would
 * write NaN as "Nan", and a made-up 0 would read as a real lag or size).
 */
function known(g: Gauge, value: number | null | undefined): void {
  if (value === null || value === undefined) g.remove();
  else g.set(value);
}

/** Entries pgferry records start with their code ("LOCK_TIMEOUT: …"). */
function errorCode(message: string): string {
  const m = /^([A-Z][A-Z_]+):/.exec(message);
  return m && m[1]! in ERROR_CODES ? m[1]! : "UNCLASSIFIED";
}
