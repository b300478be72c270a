import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { DDL_LOCK_TIMEOUT_MS, lockBoundedTransaction } from "../db/lock-bounded.js";
import { qualified } from "../db/quote.js";
import { withTransaction } from "../db/transaction.js";
import { PgferryError } from "../errors/index.js";
import type { LockWaiter } from "../progress/events.js";
import {
  captureFunctionSql,
  FENCE_UP_SQL,
  HEARTBEAT_TABLE_ID,
  type RowImage,
  rowCaptureFunctionSql,
  triggerSql,
} from "./capture-sql.js";
import { readKeyFormat, readRowFormat } from "./key-format.js";
import { type CaptureOwner, claimCapture } from "./ownership.js";

const SCHEMA_SQL = readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "sql", "capture-schema.sql"),
  "utf8",
);

/**
 * Creates the capture schema (log, heartbeat, fence), claims it for `owner`'s migration (a
 * capture another migration owns is refused, see ownership.ts) and captures the heartbeat table.
 */
export async function installCaptureSchema(
  client: pg.ClientBase,
  owner: CaptureOwner,
  side: "source" | "target" = "source",
): Promise<void> {
  await withTransaction(client, async () => {
    await client.query("select pg_advisory_xact_lock(hashtext('pgferry:capture-schema'))");
    await client.query(SCHEMA_SQL);
    await claimCapture(client, owner, side);
    await client.query(captureFunctionSql(HEARTBEAT_TABLE_ID, ["id"], null, true));
    for (const sql of triggerSql(HEARTBEAT_TABLE_ID, "pgferry", "heartbeat")) await client.query(sql);
  });
}

export interface CaptureTarget {
  tableId: number;
  schema: string;
  name: string;
  keyColumns: readonly string[];
  /** A table without a key: its rows are logged whole (rowImageOf); keyColumns is empty. */
  rowImage?: RowImage;
  /** For a partitioned table: its leaves, each with a TRUNCATE trigger of its own (rows are caught by the table's row triggers, cloned onto every partition). */
  leaves: readonly { schema: string; name: string; oid: number }[];
}

/**
 * The row image of a table without a key: a plain table's own row text, a partitioned
 * table's columns listed in its order (its leaves' may differ). `columns`: every column, in
 * the table's order (generated ones too: the row's text has them).
 */
export function rowImageOf(kind: "table" | "partitioned", columns: readonly string[]): RowImage {
  return { columns: kind === "partitioned" ? columns : null };
}

/**
 * The capture of one carried table, the same for prepare, `tables add` and the reverse
 * stream: by its key columns, or, when it has no key (`identity` 'row'), by its whole row.
 */
export function captureTargetOf(
  t: {
    id: number;
    schema: string;
    name: string;
    kind: "table" | "partitioned";
    keyColumns: readonly string[];
    identity: "key" | "row";
    columns: readonly { name: string }[];
  },
  leaves: CaptureTarget["leaves"],
): CaptureTarget {
  return {
    tableId: t.id,
    schema: t.schema,
    name: t.name,
    keyColumns: t.keyColumns,
    ...(t.identity === "row"
      ? {
          rowImage: rowImageOf(
            t.kind,
            t.columns.map((c) => c.name),
          ),
        }
      : {}),
    leaves,
  };
}

export type FenceState = "up" | "down" | "absent";

/** Whether pgferry.fence() on this side raises (the fence is up), is a no-op, or does not exist. */
export async function fenceState(client: pg.ClientBase): Promise<FenceState> {
  const { rows } = await client.query<{ src: string | null }>(
    "select (select prosrc from pg_proc where oid = to_regprocedure('pgferry.fence()')) as src",
  );
  const src = rows[0]?.src;
  if (src === null || src === undefined) return "absent";
  return /raise\s+exception/i.test(src) ? "up" : "down";
}

export interface InstallOptions {
  /**
   * Leave pgferry's apply sessions (pgferry.apply = the migration's token) unlogged (default). The source's
   * capture passes false: nothing applies into an unfenced source (see captureFunctionSql).
   */
  skipApplySessions?: boolean;
  lockTimeoutMs?: number;
  /** Attempts per table before giving up on it for this round. */
  attempts?: number;
  signal?: AbortSignal;
  onWait?: (waiters: LockWaiter[], attempt: number) => void;
}

/**
 * Installs the capture triggers of one table, one relation per short transaction with a
 * lock_timeout, retrying with backoff. A SHARE ROW EXCLUSIVE lock queued behind a long
 * transaction would stall every later writer, so we never wait long for it.
 */
export async function installTableCapture(
  client: pg.ClientBase,
  target: CaptureTarget,
  opts: InstallOptions = {},
): Promise<void> {
  const relations: { schema: string; name: string; leafOid?: number }[] = [
    { schema: target.schema, name: target.name },
    ...target.leaves.map((l) => ({ schema: l.schema, name: l.name, leafOid: l.oid })),
  ];
  // From the catalog of the side captured: the source's, or the target's for the rollback window.
  const image = target.rowImage;
  const keyFormat = image
    ? await readRowFormat(client, target, await columnNames(client, target))
    : await readKeyFormat(client, target, target.keyColumns);
  for (const rel of relations) {
    const leaf = rel.leafOid === undefined ? null : { schema: rel.schema, name: rel.name, oid: rel.leafOid };
    const skip = opts.skipApplySessions ?? true;
    await withLockRetry(client, rel, opts, async () => {
      await client.query(
        image && !leaf
          ? rowCaptureFunctionSql(target.tableId, image, skip, keyFormat)
          : captureFunctionSql(target.tableId, target.keyColumns, leaf, skip, keyFormat),
      );
      for (const sql of triggerSql(target.tableId, rel.schema, rel.name, rel.leafOid))
        await client.query(sql);
      // Installed while the fence is up (a start resumed after a cutover was killed): the new
      // function is fenced at once, in the same transaction, or its writes would slip past.
      if ((await fenceState(client)) === "up") await client.query(FENCE_UP_SQL);
    });
  }
}

/** Every column of the captured table on this side, for the row format's types. */
async function columnNames(client: pg.ClientBase, rel: { schema: string; name: string }): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select a.attname::text as name from pg_catalog.pg_attribute a
      where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum`,
    [qualified(rel.schema, rel.name)],
  );
  return rows.map((r) => r.name);
}

/** The pace of a trigger install's retries: 0.5 s doubling to 30 s, each 50–100 % of that. */
const INSTALL_BACKOFF = { baseMs: 500, capMs: 30_000, jitter: [0.5, 1] } as const;

function withLockRetry(
  client: pg.ClientBase,
  rel: { schema: string; name: string },
  opts: InstallOptions,
  body: () => Promise<void>,
): Promise<void> {
  const table = `${rel.schema}.${rel.name}`;
  const attempts = opts.attempts ?? 8;
  return lockBoundedTransaction(
    client,
    {
      lockTimeoutMs: opts.lockTimeoutMs ?? DDL_LOCK_TIMEOUT_MS,
      attempts,
      backoff: INSTALL_BACKOFF,
      signal: opts.signal,
      holders: () => lockHolders(client, rel),
      onWait: (waiters, attempt) => opts.onWait?.(waiters, attempt),
      failure: (waiters, err) =>
        new PgferryError(
          "LOCK_TIMEOUT",
          `Could not lock ${table} to install capture triggers after ${attempts} tries${holdersText(waiters)}.`,
          { side: "source", cause: err },
        ),
    },
    body,
  );
}

/** "; held by pid 1 (app, 12s), …" for a lock failure's message, or nothing. */
export function holdersText(waiters: LockWaiter[]): string {
  const who = waiters.map((w) => `pid ${w.pid} (${w.applicationName || "no name"}, ${w.seconds}s)`);
  return who.length ? `; held by ${who.join(", ")}` : "";
}

/** Sessions holding or waiting for locks on a table, oldest transaction first. */
export async function lockHolders(
  client: pg.ClientBase,
  rel: { schema: string; name: string },
): Promise<LockWaiter[]> {
  const table = `${rel.schema}.${rel.name}`;
  const { rows } = await client.query<{
    pid: number;
    app: string;
    state: string;
    seconds: number | null;
    query: string;
  }>(
    `select distinct a.pid, coalesce(a.application_name, '') as app, coalesce(a.state, '') as state,
            extract(epoch from now() - coalesce(a.xact_start, a.query_start))::int as seconds,
            left(coalesce(a.query, ''), 200) as query
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.relation = to_regclass($1) and a.pid <> pg_backend_pid()
      order by seconds desc`,
    [qualified(rel.schema, rel.name)],
  );
  return rows.map((r) => ({
    table,
    pid: r.pid,
    applicationName: r.app,
    state: r.state,
    seconds: r.seconds ?? 0,
    query: r.query,
  }));
}
