/**
 * pgferry as a library: every command of the CLI is a function here that returns data and
 * reports progress through typed events; nothing prints and nothing exits the process.
 *
 * ```ts
 * import { check, migrationContext, parseConnUrl, start } from "pgferry";
 *
 * const source = parseConnUrl(process.env.SOURCE_URL!, "source");
 * const target = parseConnUrl(process.env.TARGET_URL!, "target");
 * const report = await check({ source, target });
 * if (!report.ok) throw new Error(report.blockers.map((b) => b.message).join("\n"));
 * await start(migrationContext({ source, target, emit: (e) => console.log(e) }), { stream: false });
 * ```
 *
 * The local PostgreSQL servers of the demo and the tests are not part of this surface.
 */
import * as checkModule from "./check/index.js";
import * as cleanupModule from "./cleanup/index.js";
import type { MigrationContext as Context } from "./context.js";
import * as cutoverModule from "./cutover/index.js";
import * as db from "./db/index.js";
import * as errors from "./errors/index.js";
import * as migration from "./migration.js";
import * as events from "./progress/events.js";
import { readStatus } from "./progress/status.js";
import type * as statusModel from "./progress/status-model.js";
import { noMigrationStatus, type StatusReport as Status } from "./progress/status-model.js";
import * as tablesModule from "./tables/index.js";
import * as verifyModule from "./verify/index.js";

// --- Connections -------------------------------------------------------------------------

/**
 * A parsed connection URL. The password is a non-enumerable property, so logging or
 * serialising the object never shows it; `display` is the URL with the password masked.
 */
export type ConnInfo = db.ConnInfo;

/** The libpq sslmode values a URL may carry (`?sslmode=`). */
export type SslMode = db.SslMode;

/**
 * Parses a `postgres://` URL (libpq's parameters in the query string, e.g. `sslmode`,
 * `sslrootcert`) for one side; throws a PgferryError (BAD_URL) naming the side otherwise.
 */
export const parseConnUrl: (url: string, side: "source" | "target") => ConnInfo = db.parseConnUrl;

/** What every command but check and status gets: both sides, the event sink, and the stop signal. */
export type MigrationContext = Context;

/**
 * A MigrationContext with defaults: no events, and a signal that never aborts. Pass an
 * AbortSignal to stop a command at its next safe point (as Ctrl-C does in the CLI).
 */
export function migrationContext(opts: {
  source: ConnInfo;
  target: ConnInfo;
  emit?: EventSink;
  signal?: AbortSignal;
}): MigrationContext {
  return {
    source: opts.source,
    target: opts.target,
    emit: opts.emit ?? events.noEvents,
    signal: opts.signal ?? new AbortController().signal,
  };
}

// --- Commands ----------------------------------------------------------------------------

/** Options of check: both sides, the tables in scope, and what start will run (`pgferry check`). */
export type CheckOptions = checkModule.CheckOptions;
/** The preflight's findings (blockers, warnings, notes, each with its fix) and what it measured. */
export type CheckReport = checkModule.CheckReport;
/** One problem or note check found, with the side it concerns and how to fix it. */
export type Finding = checkModule.Finding;

/**
 * `pgferry check`: reads both sides, changes nothing, and returns every blocker, warning and
 * note with its fix. A check that cannot run (a side unreachable) throws a PgferryError.
 */
export const check: (opts: CheckOptions) => Promise<CheckReport> = checkModule.runCheck;

/** Options of start (`pgferry start`): workers, chunk size, rate limit, whether to stream. */
export type StartOptions = migration.StartOptions;
/** The phase start left the migration in, and why it returned. */
export type StartResult = migration.StartResult;

/**
 * `pgferry start`: prepare, copy and index, then stream changes until the signal aborts or
 * the migration moves on; each resumed from the state kept on the target.
 */
export const start: (ctx: MigrationContext, opts?: StartOptions) => Promise<StartResult> =
  migration.runMigration;

/** The migration's state as `pgferry status --json` prints it: phase, tables, rows, lag. */
export type StatusReport = Status;
/** One table's line in a StatusReport. */
export type TableStatus = statusModel.TableStatus;

/**
 * `pgferry status`: reads the migration's state from the target (the source is never
 * contacted). With no migration on the target, the phase is "none".
 */
export async function status(target: ConnInfo): Promise<StatusReport> {
  return db.withClient(target, { stage: "status", statementTimeoutMs: 30_000 }, (client) =>
    readStatus(client).catch((err: unknown) => {
      if (errors.isPgferryError(err) && err.code === "NOT_PREPARED") return noMigrationStatus();
      throw err;
    }),
  );
}

/** Options of verify (`pgferry verify`): tables in scope, sampling, concurrency. */
export type VerifyOptions = verifyModule.VerifyOptions;
/** Per-table comparison of source and target, and whether they match. */
export type VerifyReport = verifyModule.VerifyReport;

/** `pgferry verify`: compares every table of the source with the target, while streaming. */
export const verify: (ctx: MigrationContext, opts?: VerifyOptions) => Promise<VerifyReport> =
  verifyModule.verify;

/** Options of cutover (`pgferry cutover`): the switch command, timeouts, the rollback window. */
export type CutoverOptions = cutoverModule.CutoverOptions;
/** The cutover's steps with their times, and the measured write window. */
export type CutoverResult = cutoverModule.CutoverResult;

/** `pgferry cutover`: fences writes on the source, drains the changes, and switches. */
export const cutover: (ctx: MigrationContext, opts?: CutoverOptions) => Promise<CutoverResult> =
  cutoverModule.cutover;

/** Options of rollback (`pgferry rollback`). */
export type RollbackOptions = cutoverModule.RollbackOptions;
/** What rollback did, including the target's writes it brought back. */
export type RollbackResult = cutoverModule.RollbackResult;

/** `pgferry rollback`: within the rollback window, moves the application back to the source. */
export const rollback: (ctx: MigrationContext, opts?: RollbackOptions) => Promise<RollbackResult> =
  cutoverModule.rollback;

/** Options of cleanup (`pgferry cleanup`). */
export type CleanupOptions = cleanupModule.CleanupOptions;
/** Everything cleanup removed from both sides. */
export type CleanupReport = cleanupModule.CleanupReport;

/** `pgferry cleanup`: removes every trigger, function and schema pgferry made, on both sides. */
export const cleanup: (ctx: MigrationContext, opts?: CleanupOptions) => Promise<CleanupReport> =
  cleanupModule.cleanup;

/** Options of tables add and tables remove (`pgferry tables`). */
export type TablesOptions = tablesModule.TablesOptions;
/** Options of tables add: those of tables remove, and how to copy. */
export type AddOptions = tablesModule.AddOptions;
/** The tables added, with their rows copied. */
export type AddResult = tablesModule.AddResult;
/** The tables removed. */
export type RemoveResult = tablesModule.RemoveResult;

/** `pgferry tables add`: takes tables created after start into the migration (copied, then streamed). */
export const addTables: typeof tablesModule.addTables = tablesModule.addTables;

/** `pgferry tables remove`: takes tables out of the migration, dropping their capture. */
export const removeTables: typeof tablesModule.removeTables = tablesModule.removeTables;

// --- Events ------------------------------------------------------------------------------

/**
 * The typed facts a command emits while it works (what `--json` streams as NDJSON; see
 * docs/progress-events.md). The `type` values are stable.
 */
export type PgferryEvent = events.PgferryEvent;
/** Receives every event of a command, synchronously; it must not throw. */
export type EventSink = events.EventSink;
/** The stages named in `stage:start` and `stage:done` events. */
export type StageName = events.StageName;

// --- Errors ------------------------------------------------------------------------------

/**
 * The one error class every command throws: a stable `code` (see ERROR_CODES and
 * docs/errors.md), the `side` it concerns, and a `hint` saying what to do. Messages never
 * contain passwords.
 */
export const PgferryError: typeof errors.PgferryError = errors.PgferryError;
/** The instance type of PgferryError. */
export type PgferryError = errors.PgferryError;
/** Whether a value is a PgferryError (a type guard, for `catch (err)`). */
export const isPgferryError: typeof errors.isPgferryError = errors.isPgferryError;
/** Every error code with its exit status and default hint (docs/errors.md). */
export const ERROR_CODES: typeof errors.ERROR_CODES = errors.ERROR_CODES;
/** One of the keys of ERROR_CODES. */
export type ErrorCode = errors.ErrorCode;
/** The side an error concerns: "source", "target" or "local" (this machine). */
export type Side = errors.Side;
/** Masks every password pgferry has seen (and URL userinfo) in a text, e.g. before logging it. */
export const redact: typeof errors.redact = errors.redact;
