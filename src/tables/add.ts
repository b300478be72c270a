import type pg from "pg";
import { captureTargetOf, installTableCapture } from "../capture/index.js";
import { listTables, type SourceTable } from "../catalog/index.js";
import type { MigrationContext } from "../context.js";
import { runCopy } from "../copy/index.js";
import { DDL_LOCK_TIMEOUT_MS, ident, literal, qualified, serverMajor } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { insertTables } from "../prepare/index.js";
import { applyPreData, dumpSchema, storePostData } from "../schema/index.js";
import {
  INDEXED_PHASES,
  nextTableId,
  phaseIn,
  readTables,
  recordEvent,
  setTablePosition,
} from "../state/index.js";
import type { TablesOptions } from "./remove.js";
import { dropUncarriedCapture, inOpenMigration } from "./scope-change.js";
import {
  closeTables,
  openTables,
  parseTableName,
  storeExclude,
  type TablesSessions,
  tableKey,
} from "./session.js";

export interface AddOptions extends TablesOptions {
  /** Copy workers for the new tables' copy (default 2). */
  jobs?: number;
  pgDump?: string;
}

export interface AddResult {
  /** Tables brought into the migration, with their ids. */
  added: { name: string; id: number }[];
  /**
   * "done": copied and indexed here (the migration streams: a running `start` streams them
   * from now on); "start": left for `pgferry start`, which is still copying the migration.
   */
  copy: "done" | "start" | "stopped";
}

async function resolve(s: TablesSessions, names: readonly string[]) {
  const onSource = new Map(
    (await listTables(s.source, await serverMajor(s.source))).map((t) => [tableKey(t), t]),
  );
  const carried = new Map((await readTables(s.target)).map((r) => [tableKey(r), r.phase]));
  const fresh: SourceTable[] = [];
  for (const raw of names) {
    const p = parseTableName(raw, "TABLE_NOT_FOUND");
    const name = tableKey(p);
    const phase = carried.get(name);
    if (phase !== undefined) {
      // An add cut short after its table was registered: its copy is finished below.
      if (phaseIn(INDEXED_PHASES, phase)) {
        throw new PgferryError(
          "TABLE_ALREADY_MIGRATED",
          `${name} is already part of the migration (${phase}).`,
          {
            side: "local",
          },
        );
      }
      continue;
    }
    const t = onSource.get(name);
    if (!t) {
      throw new PgferryError("TABLE_NOT_FOUND", `The source has no table ${name}.`, { side: "local" });
    }
    fresh.push(t);
  }
  return fresh;
}

async function refuseExisting(target: pg.ClientBase, t: SourceTable): Promise<void> {
  const { rows } = await target.query<{ ok: boolean }>(
    `select to_regclass(${literal(qualified(t.schema, t.name))}) is not null as ok`,
  );
  if (!rows[0]?.ok) return;
  throw new PgferryError("SCHEMA_APPLY_FAILED", `The target already has a table ${tableKey(t)}.`, {
    side: "target",
    hint: "It is not part of the migration (left by `pgferry tables remove`, or made by hand): drop or rename it on the target, then run `pgferry tables add` again.",
  });
}

/**
 * One table into the migration: its capture on the source first, then its position P, a
 * source snapshot taken after the triggers exist (what S0 is to prepare: every change
 * committed after P is in the log, every chunk is read after P); then, in ONE target
 * transaction, its pre-data, its control row (pending, at P) and its post-data items.
 */
async function addOne(
  ctx: MigrationContext,
  s: TablesSessions,
  t: SourceTable,
  opts: AddOptions,
): Promise<number> {
  // As the copy and stream stages name it in progress and events; tableKey for the exclude list.
  const name = `${t.schema}.${t.name}`;
  const id = await nextTableId(s.target);
  const dump = await dumpSchema(ctx.source, {
    excludeTables: [],
    includeTables: [t, ...t.leaves],
    signal: ctx.signal,
    ...(opts.pgDump ? { pgDump: opts.pgDump } : {}),
  });
  for (const w of dump.warnings ?? []) ctx.emit({ type: "log", level: "warn", message: w, table: name });
  await installTableCapture(
    s.source,
    captureTargetOf(
      { ...t, id, keyColumns: t.key?.columns ?? [], identity: t.key ? "key" : "row" },
      t.leaves,
    ),
    {
      skipApplySessions: false,
      lockTimeoutMs: opts.lockTimeoutMs ?? DDL_LOCK_TIMEOUT_MS,
      attempts: 8,
      signal: ctx.signal,
      onWait: (waiters, attempt) => ctx.emit({ type: "lock:wait", table: name, attempt, waiters }),
    },
  );
  const { rows } = await s.source.query<{ p: string }>("select txid_current_snapshot()::text as p");
  const position = rows[0]!.p;
  await inOpenMigration(s, async (options) => {
    await s.target.query(`create schema if not exists ${ident(t.schema)}`);
    await applyPreData(s.target, dump);
    const map = await insertTables(s.target, [t], id);
    await setTablePosition(s.target, id, position);
    await storePostData(s.target, dump, map);
    await storeExclude(s.target, options, { drop: [tableKey(t)] });
    await recordEvent(s.target, "info", "table-added", `${name}: added to the migration.`, {
      table: name,
      id,
    });
  });
  ctx.emit({ type: "table:phase", table: name, phase: "pending" });
  return id;
}

/**
 * `pgferry tables add`: brings keyed source tables into a running migration. Each gets its
 * capture, position and schema (addOne); then, while the migration streams, this command
 * copies and indexes them with the copy stage's own workers (a running `start` is streaming
 * and copies nothing) and the running stream streams them from their position once indexed.
 * While `start` is still copying the migration, it copies them along with the rest.
 */
export async function addTables(
  ctx: MigrationContext,
  names: readonly string[],
  opts: AddOptions = {},
): Promise<AddResult> {
  // Bad names are refused before anything connects.
  for (const n of names) parseTableName(n, "TABLE_NOT_FOUND");
  const s = await openTables(ctx);
  const added: AddResult["added"] = [];
  let phase: string;
  try {
    const fresh = await resolve(s, names);
    for (const t of fresh) await refuseExisting(s.target, t);
    // Leftovers of an add that died before registering its table would share the new id.
    await dropUncarriedCapture(ctx, s, opts);
    for (const t of fresh) added.push({ name: tableKey(t), id: await addOne(ctx, s, t, opts) });
    phase = s.phase;
  } finally {
    await closeTables(s);
  }
  if (phase !== "streaming") return { added, copy: "start" };
  const done = await runCopy(ctx, { jobs: opts.jobs ?? 2, indexJobs: 1 });
  return { added, copy: done ? "done" : "stopped" };
}
