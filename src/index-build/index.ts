// The index stage: a copied table's primary key, unique constraints and indexes on the target.
import type pg from "pg";
import { type ConnInfo, cancelOnAbort, connect, qualified, withClient } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import type { EventSink } from "../progress/events.js";
import { heldBackIndexNames, moveTable, readTable as readControlTable, recordEvent } from "../state/index.js";
import type { BuildSlots } from "./build-slots.js";
import { compareIndexDefinitions, type IndexMismatch, readIndexDefinitions } from "./compare.js";
import { type BuildStep, loadPendingItems, planBuild, relationKinds } from "./items.js";
import { dropLeftover, findLeftover, reuseIndex, runBuild, runFinish, type StepOutcome } from "./run-step.js";
import { raiseMaintenanceWorkMem } from "./work-mem.js";

export { BuildSlots } from "./build-slots.js";
export {
  compareIndexDefinitions,
  type IndexDefinition,
  type IndexMismatch,
  readIndexDefinitions,
} from "./compare.js";
export { DEFAULT_MAINTENANCE_WORK_MEM } from "./work-mem.js";

export interface IndexBuildOptions {
  /** Default '512MB', bounded by the target's shared_buffers and 2GB; an explicit value is used as given. */
  maintenanceWorkMem?: string;
  signal?: AbortSignal;
  emit?: EventSink;
  /** Index builds of this one table run side by side in this many sessions (default 1). */
  jobs?: number;
  /**
   * Shared with the builds of other tables: each build takes a slot first, so the sessions
   * of every table together run at most that many builds at once.
   */
  slots?: BuildSlots;
  /** lock_timeout of the build sessions, ms (default 60 s). */
  lockTimeoutMs?: number;
}

export interface IndexBuildResult {
  /** False when the signal stopped the build at a safe point (the table is not marked indexed). */
  completed: boolean;
  built: number;
  /** Found already there from an earlier, interrupted run. */
  reused: number;
  /** Unique indexes held back for cutover (duplicates the stream has yet to resolve). */
  deferred: string[];
  mismatches: IndexMismatch[];
}

interface TableRow {
  schema: string;
  name: string;
  keyColumns: string[];
}

/**
 * Builds the stage-'index' post-data items of one copied table on the target (each item and
 * its done-mark in one transaction), ANALYZEs it, compares the definitions with the source,
 * then sets the table's phase to 'indexed'. The caller holds the claim on the table; calls
 * for different tables may run at the same time.
 */
export async function buildTableIndexes(
  target: ConnInfo,
  source: ConnInfo,
  tableId: number,
  opts: IndexBuildOptions = {},
): Promise<IndexBuildResult> {
  const emit = opts.emit ?? (() => {});
  const open = () => openSession(target, opts);
  const client = await open();
  try {
    const table = await readTable(client, tableId);
    const label = `${table.schema}.${table.name}`;
    const result: IndexBuildResult = { completed: false, built: 0, reused: 0, deferred: [], mismatches: [] };
    const items = await loadPendingItems(client, tableId);
    const plan = planBuild(items, await relationKinds(client, items));
    // Items an earlier run held back for cutover: their ATTACH steps wait with them.
    const deferred = await heldBack(client, tableId);
    const count = (o: StepOutcome, step: BuildStep) => {
      if (o === "built") result.built++;
      else if (o === "reused") result.reused++;
      else if (!deferred.has(step.item.name)) {
        deferred.add(step.item.name);
        result.deferred.push(step.item.name);
      }
    };
    const builds = await settleLeftovers(client, plan.builds, count, emit, label);
    // A build under way when the signal fires is cancelled: hours of CREATE INDEX are not a safe point.
    const finished = await runPool(client, open, builds, opts, async (c, step) =>
      count(await cancelOnAbort(target, c, opts.signal, () => runBuild(c, step, label)), step),
    );
    if (!finished) return result;
    for (const step of plan.finish) {
      if (opts.signal?.aborted) return result;
      count(await runFinish(client, step, label, deferred), step);
    }
    for (const name of result.deferred)
      await warn(client, emit, label, "index:deferred", deferMessage(name, label));
    await requireKeyIndex(client, table);
    await client.query(`analyze ${qualified(table.schema, table.name)}`);
    result.mismatches = await compareWithSource(client, source, table, tableId, emit);
    await moveTable(
      client,
      tableId,
      { from: ["copied", "indexing", "indexed"], to: "indexed", skip: ["streaming", "paused"] },
      { indexedAt: true },
    );
    result.completed = true;
    return result;
  } finally {
    await client.end().catch(() => {});
  }
}

async function openSession(target: ConnInfo, opts: IndexBuildOptions): Promise<pg.Client> {
  const client = await connect(target, { stage: "index", lockTimeoutMs: opts.lockTimeoutMs ?? 60_000 });
  try {
    // pg_dump's statements are fully qualified and meant to run with an empty search_path.
    await client.query("set search_path = ''");
    await raiseMaintenanceWorkMem(client, opts.maintenanceWorkMem);
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
}

async function heldBack(client: pg.ClientBase, tableId: number): Promise<Set<string>> {
  return heldBackIndexNames(client, tableId);
}

async function readTable(client: pg.ClientBase, tableId: number): Promise<TableRow> {
  const row = await readControlTable(client, tableId);
  if (!row) {
    throw new PgferryError("NOT_PREPARED", `Table id ${tableId} is not in the target's control schema.`, {
      side: "target",
    });
  }
  return { schema: row.schema, name: row.name, keyColumns: row.keyColumns };
}

/** Deals with indexes left by an earlier run before any build starts (a DROP would wait on the builds). */
async function settleLeftovers(
  client: pg.ClientBase,
  builds: readonly BuildStep[],
  count: (o: StepOutcome, step: BuildStep) => void,
  emit: EventSink,
  label: string,
): Promise<BuildStep[]> {
  const todo: BuildStep[] = [];
  for (const step of builds) {
    const leftover = await findLeftover(client, step);
    if (leftover === "reuse") {
      await reuseIndex(client, step);
      count("reused", step);
      continue;
    }
    if (leftover === "drop") {
      await warn(
        client,
        emit,
        label,
        "index:leftover",
        `Dropped a leftover index ${step.item.name} on ${label} to rebuild it.`,
      );
      await dropLeftover(client, step.item);
    }
    todo.push(step);
  }
  return todo;
}

/**
 * Runs the builds in up to opts.jobs sessions (the first is `client`; the others are opened
 * when they get their first build). With opts.slots, every build waits for a slot. Each
 * session stops taking new builds once the signal fires or another one failed; returns false
 * when stopped by the signal. The first failure is rethrown after every session has stopped.
 */
async function runPool(
  client: pg.Client,
  open: () => Promise<pg.Client>,
  steps: readonly BuildStep[],
  opts: IndexBuildOptions,
  run: (client: pg.Client, step: BuildStep) => Promise<void>,
): Promise<boolean> {
  const queue = [...steps];
  let failure: { err: unknown } | undefined;
  const sessions: pg.Client[] = [];
  const stopped = () => failure !== undefined || opts.signal?.aborted === true;
  const worker = async (own: pg.Client | undefined) => {
    let c = own;
    while (queue.length > 0 && !stopped()) {
      let release: (() => void) | undefined;
      try {
        release = await opts.slots?.take(opts.signal);
        const step = queue.shift();
        if (!step || stopped()) return;
        if (!c) {
          c = await open();
          sessions.push(c);
        }
        await run(c, step);
      } catch (err) {
        // A build cancelled by the signal rolled back: the table stays 'indexing' for the next run.
        if (!opts.signal?.aborted) failure ??= { err };
      } finally {
        release?.();
      }
    }
  };
  const extra = Math.max(0, Math.min((opts.jobs ?? 1) - 1, steps.length - 1));
  try {
    await Promise.all([worker(client), ...Array.from({ length: extra }, () => worker(undefined))]);
  } finally {
    await Promise.all(sessions.map((s) => s.end().catch(() => {})));
  }
  if (failure) throw failure.err;
  return !opts.signal?.aborted;
}

/** The stream deletes and inserts by key: without a valid unique index on exactly the key it cannot run. */
async function requireKeyIndex(client: pg.ClientBase, table: TableRow): Promise<void> {
  if (table.keyColumns.length === 0) return;
  const { rows } = await client.query<{ "?column?": number }>(
    `select 1 from pg_catalog.pg_index x
      where x.indrelid = to_regclass($1) and x.indisunique and x.indisvalid
        and x.indpred is null and x.indexprs is null and x.indnkeyatts = $3
        and (select array_agg(a.attname::text order by a.attname) from pg_catalog.pg_attribute a
              where a.attrelid = x.indrelid and a.attnum = any (x.indkey[0:x.indnkeyatts - 1]))
            = (select array_agg(k order by k) from unnest($2::text[]) as k)`,
    [qualified(table.schema, table.name), table.keyColumns, table.keyColumns.length],
  );
  if (rows.length === 0) {
    throw new PgferryError(
      "INDEX_BUILD_FAILED",
      `${table.schema}.${table.name} has no valid unique index on its key (${table.keyColumns.join(", ")}) on the target after the index build.`,
      {
        side: "target",
        hint: "Look at the events (`pgferry status`) for the index that was not built, fix its cause, then run start again.",
      },
    );
  }
}

async function compareWithSource(
  client: pg.ClientBase,
  source: ConnInfo,
  table: TableRow,
  tableId: number,
  emit: EventSink,
): Promise<IndexMismatch[]> {
  const onSource = await withClient(source, { stage: "index", statementTimeoutMs: 60_000 }, (s) =>
    readIndexDefinitions(s, table.schema, table.name),
  );
  const onTarget = await readIndexDefinitions(client, table.schema, table.name);
  const mismatches = compareIndexDefinitions(
    onSource,
    onTarget,
    await heldBackIndexNames(client, tableId, true),
  );
  const label = `${table.schema}.${table.name}`;
  for (const m of mismatches) {
    const level = m.problem === "missing" ? "error" : "warn";
    const message = mismatchMessage(m, label);
    emit({ type: "log", level, message, table: label });
    await recordEvent(client, level, `index:${m.problem}`, message, { ...m });
  }
  return mismatches;
}

function mismatchMessage(m: IndexMismatch, label: string): string {
  switch (m.problem) {
    case "missing":
      return `Index ${m.name} of ${label} exists on the source but not on the target: ${m.source}`;
    case "different":
      return `Index ${m.name} of ${label} differs: source ${m.source}; target ${m.target}`;
    case "extra":
      return `Index ${m.name} of ${label} exists on the target but not on the source: ${m.target}`;
    case "invalid":
      return `Index ${m.name} of ${label} is invalid on the target: ${m.target}`;
  }
}

function deferMessage(name: string, label: string): string {
  return `Unique index ${name} of ${label} could not be built yet: the copy holds duplicates that replaying the changes resolves; it is built at cutover.`;
}

async function warn(client: pg.ClientBase, emit: EventSink, table: string, kind: string, message: string) {
  emit({ type: "log", level: "warn", message, table });
  await recordEvent(client, "warn", kind, message, { table });
}
