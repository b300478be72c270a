import type pg from "pg";
import type { MigrationContext } from "../context.js";
import { connect, qualified } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { CUT_OVER_PHASES, phaseIn } from "../state/index.js";
import { type AwaitApplied, applyWaiter } from "./applied.js";
import { type CompareSides, compareTable, quickCompareTable } from "./compare-table.js";
import { compareObjects } from "./objects.js";
import { inRollbackWindow, reverseApplyWaiter } from "./reverse-applied.js";
import { compareSequences } from "./sequences.js";
import { tableName, type VerifyTable } from "./table-sql.js";
import { type MigrationView, tablesFromCatalog, tablesFromControl, unmigratedTables } from "./tables.js";
import { type TableVerdict, VERIFY_DEFAULTS, type VerifyOptions, type VerifyReport } from "./types.js";

interface Pair {
  source: pg.Client;
  target: pg.Client;
}

async function openPair(ctx: MigrationContext): Promise<Pair> {
  // Range queries are bounded by rangeRows; the timeout only stops a runaway one.
  const [source, target] = await Promise.allSettled([
    connect(ctx.source, { stage: "verify", statementTimeoutMs: 300_000 }),
    connect(ctx.target, { stage: "verify", statementTimeoutMs: 300_000 }),
  ]);
  if (source.status === "fulfilled" && target.status === "fulfilled") {
    return { source: source.value, target: target.value };
  }
  for (const side of [source, target])
    if (side.status === "fulfilled") await side.value.end().catch(() => {});
  throw (source.status === "rejected" ? source : (target as PromiseRejectedResult)).reason;
}

async function closePair(p: Pair): Promise<void> {
  await Promise.all([p.source.end().catch(() => {}), p.target.end().catch(() => {})]);
}

/** Runs `work` over the tables with `jobs` workers, each with its own pair of sessions. */
async function eachTable<T>(
  ctx: MigrationContext,
  tables: readonly VerifyTable[],
  jobs: number,
  work: (pair: Pair, t: VerifyTable) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array(tables.length);
  let next = 0;
  const worker = async () => {
    const pair = await openPair(ctx);
    try {
      while (next < tables.length) {
        ctx.signal.throwIfAborted();
        const i = next++;
        out[i] = await work(pair, tables[i]!);
      }
    } finally {
      await closePair(pair);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, tables.length)) }, worker));
  return out;
}

/**
 * A settle function for the range re-checks: waits until the table's applied position covers
 * a snapshot of the source taken now, so a re-check sees every change made before it.
 */
function settler(pair: Pair, awaitApplied: AwaitApplied): CompareSides["settle"] {
  return async (t) => {
    if (t.id === null) return false;
    const snap = await pair.source.query<{ s: string }>("select txid_current_snapshot()::text as s");
    return (await awaitApplied(t, snap.rows[0]!.s, 0)).applied;
  };
}

async function loadTables(
  ctx: MigrationContext,
  only?: readonly string[],
): Promise<{ view: MigrationView | null; tables: VerifyTable[]; reverse: boolean }> {
  const pair = await openPair(ctx);
  try {
    const found = await tablesOn(pair, only);
    const reverse = found.view !== null && (await inRollbackWindow(pair.target, pair.source));
    return { ...found, reverse };
  } finally {
    await closePair(pair);
  }
}

async function tablesOn(
  pair: Pair,
  only?: readonly string[],
): Promise<{ view: MigrationView | null; tables: VerifyTable[] }> {
  const view = await tablesFromControl(pair.target);
  let tables = view ? view.tables : await tablesFromCatalog(pair.source);
  if (only) {
    const wanted = new Set(only);
    tables = tables.filter((t) => wanted.has(tableName(t)));
    const unknown = [...wanted].filter((w) => !tables.some((t) => tableName(t) === w));
    if (unknown.length > 0) {
      throw new PgferryError("BAD_OPTION", `Not a replicated table: ${unknown.join(", ")}.`, {
        side: "local",
        hint: "Name tables as schema.table, as `pgferry status` lists them.",
      });
    }
  }
  return { view, tables };
}

/**
 * Compares every replicated table, source against target, range by range; re-checks what
 * differs while changes still flow; then sequences and (once due) indexes, constraints and
 * triggers. Reads in bounded key ranges, `jobs` tables at a time.
 */
export async function verify(ctx: MigrationContext, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const o = { ...VERIFY_DEFAULTS, ...opts };
  const started = Date.now();
  ctx.emit({ type: "stage:start", stage: "verify" });
  const { view, tables, reverse } = await loadTables(ctx, opts.tables);
  const phase = view?.phase ?? null;
  const verdicts = await eachTable(ctx, tables, o.jobs, async (pair, t) => {
    const waitOpts = { timeoutMs: o.settleTimeoutMs, emit: ctx.emit, signal: ctx.signal };
    let sides: CompareSides;
    if (reverse) {
      // The rollback window: the target leads, the source follows through the reverse stream.
      const awaitApplied = reverseApplyWaiter(pair.source, pair.target, waitOpts);
      const led: Pair = { source: pair.target, target: pair.source };
      sides = { ...led, settle: settler(led, awaitApplied), awaitApplied, signal: ctx.signal };
    } else {
      const awaitApplied: AwaitApplied =
        view === null
          ? async () => ({ applied: false, reason: "the target holds no migration" })
          : applyWaiter(pair.target, waitOpts);
      sides = { ...pair, settle: settler(pair, awaitApplied), awaitApplied, signal: ctx.signal };
    }
    const v = reverse ? backToSourceTarget(await compareTable(sides, t, o)) : await compareTable(sides, t, o);
    ctx.emit({
      type: "log",
      level: v.identical ? "info" : "warn",
      message: v.identical
        ? "identical"
        : `${v.differences.length + v.moreDifferences} differences${v.notApplied ? ` (${v.notApplied.keys} not applied: ${v.notApplied.reason})` : ""}`,
      table: v.name,
    });
    return v;
  });
  // Before prepare registered the tables (one transaction), every table would look new.
  if (view && view.tables.length > 0 && !opts.tables) verdicts.push(...(await newTables(ctx, view)));
  const cutOver = phase === null || phaseIn(CUT_OVER_PHASES, phase);
  let sequences: VerifyReport["sequences"] = [];
  if (!opts.dataOnly) {
    const pair = await openPair(ctx);
    try {
      sequences = await compareSequences(pair.source, pair.target, tables, cutOver);
      const objects = await compareObjects(pair.source, pair.target, tables, cutOver);
      for (const v of verdicts) {
        const missing = objects.missing.get(v.name) ?? [];
        v.differences.push(...missing);
        if (missing.length > 0) v.identical = false;
        const pending = objects.pending.get(v.name);
        if (pending) v.pendingObjects = pending;
      }
    } finally {
      await closePair(pair);
    }
  }
  const identical = verdicts.every((v) => v.identical) && sequences.every((s) => s.ok || !s.counted);
  const seconds = (Date.now() - started) / 1000;
  ctx.emit({ type: "stage:done", stage: "verify", seconds });
  return {
    identical,
    phase,
    direction: reverse ? "target-to-source" : "source-to-target",
    tables: verdicts,
    sequences,
    seconds,
  };
}

/**
 * A verdict of a comparison run the other way round (target leading) in the source/target
 * terms of the report: row counts and `missing` / `extra` swap back.
 */
function backToSourceTarget(v: TableVerdict): TableVerdict {
  return {
    ...v,
    sourceRows: v.targetRows,
    targetRows: v.sourceRows,
    differences: v.differences.map((d) =>
      d.kind === "missing" ? { ...d, kind: "extra" } : d.kind === "extra" ? { ...d, kind: "missing" } : d,
    ),
  };
}

/** Source tables the migration does not carry, each as a differing verdict. */
async function newTables(ctx: MigrationContext, view: MigrationView): Promise<TableVerdict[]> {
  const pair = await openPair(ctx);
  try {
    const found = await unmigratedTables(pair.source, view);
    const out: TableVerdict[] = [];
    for (const t of found) {
      const { rows } = await pair.source.query<{ n: string }>(
        `select count(*) as n from ${t.kind === "partitioned" ? "" : "only "}${qualified(t.schema, t.name)}`,
      );
      out.push({
        name: tableName(t),
        sourceRows: Number(rows[0]!.n),
        targetRows: 0,
        identical: false,
        differences: [{ kind: "unmigrated_table" }],
        moreDifferences: 0,
        ranges: 0,
      });
      ctx.emit({
        type: "log",
        level: "warn",
        message: "exists on the source but is not migrated (created after prepare?)",
        table: tableName(t),
      });
    }
    return out;
  } finally {
    await closePair(pair);
  }
}

export interface QuickVerifyOptions {
  /** Rows at the end of each table's key order whose hash is compared. */
  tailRows?: number;
  /** Tables estimated larger than this are not counted (a count reads the whole table). */
  countMaxRows?: number;
  jobs?: number;
  maxKeys?: number;
}

/** The cutover's fast check, with writes fenced: counts and the last key range of every table. */
export async function quickVerify(
  ctx: MigrationContext,
  opts: QuickVerifyOptions = {},
): Promise<VerifyReport> {
  const started = Date.now();
  const limits = {
    tailRows: opts.tailRows ?? 1000,
    countMaxRows: opts.countMaxRows ?? 5_000_000,
    maxKeys: opts.maxKeys ?? 20,
  };
  // Sessions are opened once, side by side: inside the fence window, connecting is most of the cost.
  const opened = await Promise.allSettled(
    Array.from({ length: Math.max(1, opts.jobs ?? 3) }, () => openPair(ctx)),
  );
  const pairs = opened.flatMap((p) => (p.status === "fulfilled" ? [p.value] : []));
  try {
    const failed = opened.find((p): p is PromiseRejectedResult => p.status === "rejected");
    if (failed) throw failed.reason;
    const { view, tables } = await tablesOn(pairs[0]!);
    const verdicts: TableVerdict[] = new Array(tables.length);
    let next = 0;
    await Promise.all(
      pairs.map(async (pair) => {
        // Writes are fenced and caught up: a change still in the log is one nothing applied.
        const sides: CompareSides = {
          ...pair,
          settle: async () => false,
          awaitApplied: async () => ({
            applied: false,
            reason: "changes logged on the source that the cutover's catch-up did not apply",
          }),
          signal: ctx.signal,
        };
        while (next < tables.length) {
          const i = next++;
          verdicts[i] = await quickCompareTable(sides, tables[i]!, limits);
        }
      }),
    );
    return {
      identical: verdicts.every((v) => v.identical),
      phase: view?.phase ?? null,
      tables: verdicts,
      sequences: [],
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await Promise.all(pairs.map(closePair));
  }
}
