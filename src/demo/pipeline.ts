import path from "node:path";
import { runCheck } from "../check/index.js";
import type { MigrationContext } from "../context.js";
import { PgferryError } from "../errors/index.js";
import { runMigration, type StartResult } from "../migration.js";
import type { StatusReport } from "../progress/status-model.js";
import { verify } from "../verify/index.js";
import { switchCommand, writeSecret } from "./app-config.js";
import type { Recorder } from "./recorder.js";
import type { DemoSummary } from "./summary.js";

export interface PipelineOptions {
  /** The demo's directory: the app's URL file and the target URL for the switch live there. */
  dir: string;
  appUrlFile: string;
  targetUrl: string;
  streamSeconds: number;
  signal: AbortSignal;
}

/** Every table streams and the target is close behind: the moment a user would cut over. */
function caughtUp(s: StatusReport): boolean {
  return (
    s.phase === "streaming" &&
    s.tables.length > 0 &&
    s.tables.every((t) => t.phase === "streaming") &&
    s.lagSeconds !== null &&
    s.lagSeconds < 2
  );
}

/**
 * check → start (prepare, copy, index, stream) → verify → cutover → cleanup, through the
 * library calls the commands make. Stops after the last stage that can run, and says why
 * in summary.notRun. Returns true when the app was switched to the target.
 */
export async function runPipeline(
  ctx: MigrationContext,
  rec: Recorder,
  summary: DemoSummary,
  opts: PipelineOptions,
): Promise<boolean> {
  const report = await rec.step(
    "check",
    "pgferry check: versions, privileges, keys, sizes, pg_dump",
    () => runCheck({ source: ctx.source, target: ctx.target, emit: rec.sink }),
    (r) => `pgferry check: ready (${r.blockers.length} blockers, ${r.warnings.length} warnings)`,
  );
  if (report.blockers.length > 0) {
    const list = report.blockers.map((b) => `\n  - ${b.message} Fix: ${b.fix}`).join("");
    throw new PgferryError("CHECK_FAILED", `pgferry check found blockers:${list}`);
  }

  rec.note("pgferry start: prepare, then copy and index in parallel, then stream");
  // start gets its own stop signal: the demo ends it as Ctrl-C would when it cannot cut over.
  const startStop = new AbortController();
  const stopStart = () => startStop.abort(new Error("demo: stop streaming"));
  ctx.signal.addEventListener("abort", stopStart, { once: true });
  const run = runMigration({ ...ctx, signal: startStop.signal }, { progressIntervalMs: 500 });
  const ended = run.then((r) => ({ ended: r }));
  const first = await Promise.race([ended, rec.until(caughtUp).then((s) => ({ status: s }))]);
  if ("ended" in first) return stoppedEarly(first.ended, rec, summary, ctx.signal);
  recordCopy(rec, summary, first.status);

  rec.measureLag(true);
  rec.note(`Streaming: the app keeps writing; every change is replayed on the target`);
  await sleepUnlessAborted(opts.streamSeconds * 1000, ctx.signal);
  if (ctx.signal.aborted) return false;

  const verdict = await rec.step(
    "verify",
    "pgferry verify: every table, range by range, while the app writes",
    () => verify(ctx),
    (r) =>
      r.identical
        ? `pgferry verify: identical (${r.tables.length} tables)`
        : `pgferry verify: differences in ${r.tables.filter((t) => !t.identical).length} table(s)`,
  );
  summary.verify = {
    identical: verdict.identical,
    tables: verdict.tables.length,
    rows: verdict.tables.reduce((a, t) => a + t.sourceRows, 0),
  };
  rec.measureLag(false);
  summary.stream = {
    lagMaxSeconds: rec.lagMax,
    lagLastSeconds: rec.lagLast,
    changesApplied: rec.last?.stream.changesApplied ?? 0,
  };
  if (!verdict.identical) throw new PgferryError("VERIFY_FAILED", "pgferry verify found differences.");

  const targetFile = path.join(opts.dir, "target-database-url");
  writeSecret(targetFile, opts.targetUrl);
  const command = switchCommand(targetFile, opts.appUrlFile);
  summary.notRun.push({ stage: "cutover", reason: `not built yet (the switch command would be: ${command})` });
  summary.notRun.push({ stage: "cleanup", reason: "runs after the cutover" });
  stopStart();
  await run;
  return false;
}

/** start ended before every table streamed: stopped, or a stage it needs is missing. */
function stoppedEarly(r: StartResult, rec: Recorder, summary: DemoSummary, signal: AbortSignal): false {
  if (signal.aborted) return false;
  if (rec.last) recordCopy(rec, summary, rec.last);
  const reason =
    r.outcome === "stream-unavailable" ? "the stream stage is not built yet" : `start ended early (${r.outcome})`;
  for (const stage of ["stream", "verify", "cutover", "cleanup"]) summary.notRun.push({ stage, reason });
  return false;
}

function recordCopy(rec: Recorder, summary: DemoSummary, s: StatusReport): void {
  const seconds = rec.stageSeconds.get("copy") ?? rec.stageSeconds.get("demo:start") ?? 0;
  summary.copy = {
    rows: s.copy.rowsDone,
    bytes: s.copy.bytesDone,
    seconds,
    bytesPerSecond: seconds > 0 ? s.copy.bytesDone / seconds : 0,
    rowsPerSecond: seconds > 0 ? s.copy.rowsDone / seconds : 0,
  };
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
