import { runCheck } from "../check/index.js";
import { cleanup } from "../cleanup/index.js";
import type { MigrationContext } from "../context.js";
import { cutover } from "../cutover/index.js";
import { sleep, withClient } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { runMigration, type StartResult } from "../migration.js";
import { readStatus } from "../progress/status.js";
import type { StatusReport } from "../progress/status-model.js";
import { verify } from "../verify/index.js";
import { switchCommand } from "./app-config.js";
import type { Recorder } from "./recorder.js";
import type { DemoSummary } from "./summary.js";

export interface PipelineOptions {
  /** The app's config file, which the switch command rewrites. */
  appUrlFile: string;
  /** How long to stream (the app writing) before verify and cutover. */
  streamSeconds: number;
  /** How long the app writes to the target before cleanup. */
  afterSwitchSeconds: number;
  /** --max-lag of the cutover. */
  maxLagSeconds: number;
  /** --pg-dump of check and start. */
  pgDump?: string;
}

/**
 * Every table streams and the target is close behind (well under the cutover's --max-lag, on
 * a machine busy with other work too): the moment a user would start watching for the switch.
 */
function caughtUp(s: StatusReport): boolean {
  return (
    s.phase === "streaming" &&
    s.tables.length > 0 &&
    s.tables.every((t) => t.phase === "streaming") &&
    s.lagSeconds !== null &&
    s.lagSeconds < 5
  );
}

/**
 * check → start (prepare, copy, index, stream) → verify → cutover → cleanup, through the
 * library calls the commands make; `start` runs on in the background, as it would in its own
 * shell, while verify and cutover run. Returns true when the app was switched to the target;
 * false when stopped (by Ctrl-C, or because `start` ended early: summary.notRun says why).
 */
export async function runPipeline(
  ctx: MigrationContext,
  rec: Recorder,
  summary: DemoSummary,
  opts: PipelineOptions,
): Promise<boolean> {
  const pgDump = opts.pgDump ? { pgDump: opts.pgDump } : {};
  await check(ctx, rec, pgDump);
  const command = switchCommand(opts.appUrlFile);
  rec.note(`At the cutover, this switch command will point the app at the target:\n    ${command}`, {
    command,
  });
  // start gets its own stop signal too, so a failure later in the demo stops it as Ctrl-C would.
  const startStop = new AbortController();
  const stopStart = () => startStop.abort(new Error("stopped"));
  ctx.signal.throwIfAborted();
  rec.note("pgferry start: prepare, then copy and index in parallel, then stream");
  const signal = AbortSignal.any([ctx.signal, startStop.signal]);
  // runMigration caps its sessions on a ConnInfo of its own (withConnectionCap): verify,
  // in this same process, keeps its sessions outside that budget.
  const run = runMigration({ ...ctx, signal }, { progressIntervalMs: 500, ...pgDump });
  try {
    const first = await Promise.race([
      run.then((r) => ({ ended: r })),
      rec.until(caughtUp).then((s) => ({ status: s })),
    ]);
    if ("ended" in first) return stoppedEarly(first.ended, rec, summary, ctx.signal);
    recordCopy(rec, summary, first.status);
    if (!(await streamAndVerify(ctx, rec, summary, opts))) return false;
    // As an operator would: cut over when status shows the lag low again after verify's reads.
    const ready = await Promise.race([rec.until(caughtUp).then(() => true), run.then(() => false)]);
    if (!ready) {
      if (!ctx.signal.aborted) summary.notRun.push({ stage: "cutover", reason: "start stopped streaming" });
      return false;
    }
    await switchOver(ctx, rec, summary, command, opts.maxLagSeconds);
    // start's stream sees the migration leave the streaming phases and ends by itself.
    await run;
    await finalStatus(ctx, rec);
  } finally {
    stopStart();
    await run.catch(() => {});
  }
  await sleep(opts.afterSwitchSeconds * 1000, ctx.signal);
  const cleaned = await rec.step(
    "cleanup",
    "pgferry cleanup: the capture triggers and schema pgferry, on both sides",
    () => cleanup(ctx),
    (r) =>
      `pgferry cleanup: triggers removed from ${r.source.relations.length} source relation(s), schema pgferry dropped on both sides`,
  );
  summary.cleaned = cleaned.source.schemaDropped && cleaned.target.schemaDropped;
  return true;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

async function check(ctx: MigrationContext, rec: Recorder, pgDump: { pgDump?: string }): Promise<void> {
  const report = await rec.step(
    "check",
    "pgferry check: versions, privileges, keys, sizes, pg_dump, connections",
    () => runCheck({ source: ctx.source, target: ctx.target, ...pgDump }),
    (r) =>
      r.blockers.length === 0
        ? `pgferry check: ready (${plural(r.warnings.length, "warning")}, shown again by start)`
        : `pgferry check: ${plural(r.blockers.length, "blocker")}`,
  );
  if (report.blockers.length > 0) {
    const list = report.blockers.map((b) => `\n  - ${b.message} Fix: ${b.fix}`).join("");
    throw new PgferryError("CHECK_FAILED", `pgferry check found blockers:${list}`);
  }
}

/** Lets the app write while pgferry streams, then verifies. False when stopped meanwhile. */
async function streamAndVerify(
  ctx: MigrationContext,
  rec: Recorder,
  summary: DemoSummary,
  opts: PipelineOptions,
): Promise<boolean> {
  rec.measureLag(true);
  rec.note("Streaming: the app keeps writing, and pgferry replays its changes on the target");
  await sleep(opts.streamSeconds * 1000, ctx.signal);
  if (ctx.signal.aborted) return false;
  const verdict = await rec.step(
    "verify",
    "pgferry verify: every table, range by range, while the app writes",
    () => verify(ctx),
    (r) =>
      r.identical
        ? `pgferry verify: identical (${r.tables.length} tables)`
        : `pgferry verify: differences in ${r.tables
            .filter((t) => !t.identical)
            .map((t) => t.name)
            .join(", ")}`,
  );
  summary.verify = {
    identical: verdict.identical,
    tables: verdict.tables.length,
    rows: verdict.tables.reduce((a, t) => a + t.sourceRows, 0),
  };
  rec.measureLag(false);
  const lags = [...rec.lags].sort((a, b) => a - b);
  summary.stream = {
    lagMaxSeconds: lags.at(-1) ?? null,
    lagMedianSeconds: lags.length > 0 ? lags[Math.floor(lags.length / 2)]! : null,
    changesApplied: rec.last?.stream.changesApplied ?? 0,
  };
  if (!verdict.identical) throw new PgferryError("VERIFY_FAILED", "pgferry verify found differences.");
  return !ctx.signal.aborted;
}

async function switchOver(
  ctx: MigrationContext,
  rec: Recorder,
  summary: DemoSummary,
  command: string,
  maxLagSeconds: number,
): Promise<void> {
  const done = await rec.step(
    "cutover",
    `pgferry cutover --max-lag ${maxLagSeconds} --switch-command …: fence, drain, last changes, sequences, constraints, switch`,
    () => cutover(ctx, { switchCommand: command, maxLagSeconds }),
    (r) => `pgferry cutover: switched; writes were refused for ${r.unavailableMs.toLocaleString("en-US")} ms`,
  );
  summary.cutover = { unavailableMs: done.unavailableMs, appUnavailableMs: null, refusedWrites: 0 };
}

/**
 * The migration's status once cut over, as `pgferry status` would show it, then the end of
 * start: the live view keeps this last frame on screen.
 */
async function finalStatus(ctx: MigrationContext, rec: Recorder): Promise<void> {
  const status = await withClient(ctx.target, { stage: "status" }, readStatus);
  rec.sink({ type: "progress", status });
  rec.note(`pgferry start: ended by itself once the migration was switched (phase ${status.phase})`, {
    step: "start",
    state: "done",
  });
}

/** start ended before every table streamed (stopped, or switched by someone else). */
function stoppedEarly(r: StartResult, rec: Recorder, summary: DemoSummary, signal: AbortSignal): false {
  if (signal.aborted) return false;
  if (rec.last) recordCopy(rec, summary, rec.last);
  const reason = `start ended early (${r.outcome})`;
  for (const stage of ["stream", "verify", "cutover", "cleanup"]) summary.notRun.push({ stage, reason });
  return false;
}

function recordCopy(rec: Recorder, summary: DemoSummary, s: StatusReport): void {
  const seconds = rec.stageSeconds.get("copy") ?? 0;
  summary.copy = {
    rows: s.copy.rowsDone,
    bytes: s.copy.bytesDone,
    seconds,
    bytesPerSecond: seconds > 0 ? s.copy.bytesDone / seconds : 0,
    rowsPerSecond: seconds > 0 ? s.copy.rowsDone / seconds : 0,
  };
}
