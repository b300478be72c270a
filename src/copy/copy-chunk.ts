import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { driverFields, fromDriverError, isTransient, sqlState } from "../db/index.js";
import { identList, qualified } from "../db/quote.js";
import { lockNextChunk, markChunkDone, setTablePosition } from "../state/index.js";
import type { ControlTable } from "./control-tables.js";
import { type CopyFormat, copyFormat, copyOptions } from "./copy-format.js";
import { CopyInFrames, CopyOutFrames } from "./copy-pipe.js";
import type { RateLimiter } from "./throttle.js";

/** A chunk claimed by this worker: its row is locked by the worker's open target transaction. */
export interface ClaimedChunk {
  tableId: number;
  chunkNo: number;
  /** The physical relation (a leaf partition for a partitioned table). */
  schema: string;
  name: string;
  predicate: string | null;
  /** The replicated table, "schema.name", for messages. */
  table: string;
  columns: ControlTable["columns"];
  /**
   * A table without a key: the one chunk is the whole table (a partitioned one with its
   * leaves), read in one REPEATABLE READ transaction whose snapshot becomes the table's
   * stream position in the transaction that commits the rows.
   */
  whole: boolean;
  kind: ControlTable["kind"];
}

/**
 * Opens a target transaction and locks the next unfinished chunk in it (SKIP LOCKED: chunks
 * held by other workers or processes are passed over). The most work first — a table's bytes
 * times one plus its keys and indexes, so a heavily indexed table is copied early and its
 * index builds overlap the other tables' copies instead of trailing after the last chunk —
 * and the small tables fill the gaps at the end.
 * Returns undefined (transaction closed) when nothing is free.
 */
export async function claimChunk(target: pg.ClientBase): Promise<ClaimedChunk | undefined> {
  await target.query("begin");
  try {
    const r = await lockNextChunk(target);
    if (!r) {
      await target.query("rollback");
      return undefined;
    }
    return {
      tableId: r.tableId,
      chunkNo: r.chunkNo,
      schema: r.schema,
      name: r.name,
      predicate: r.predicate,
      table: `${r.rootSchema}.${r.rootName}`,
      columns: r.columns,
      whole: r.identity === "row",
      kind: r.kind,
    };
  } catch (err) {
    await target.query("rollback").catch(() => {});
    throw err;
  }
}

export interface CopyChunkOptions {
  worker: string;
  limiter?: RateLimiter;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  /** Overrides the format chosen from the column types (the text fallback of a table). */
  format?: CopyFormat;
}

/** The source query of one chunk: only the columns COPY must carry (generated ones are computed). */
export function chunkSelect(chunk: ClaimedChunk): { select: string; columns: string } {
  const columns = identList(chunk.columns.filter((c) => !c.generated).map((c) => c.name));
  // ONLY: an inheritance child is a table of its own and must not be read twice. A partitioned
  // table's whole-table chunk reads every leaf through the root.
  const where = chunk.predicate ? ` where ${chunk.predicate}` : "";
  const only = chunk.whole && chunk.kind === "partitioned" ? "" : "only ";
  return { select: `select ${columns} from ${only}${qualified(chunk.schema, chunk.name)}${where}`, columns };
}

/** The COPY format of a chunk: binary when every column it carries is of a binary-safe built-in type. */
export function chunkFormat(chunk: Pick<ClaimedChunk, "columns">): CopyFormat {
  return copyFormat(chunk.columns.filter((c) => !c.generated));
}

/**
 * Streams one claimed chunk from the source into the target and commits it with its
 * done-mark, in the transaction that holds the claim.
 *
 * A crashed or abandoned attempt needs no cleanup: its rows were written in that same
 * transaction, which never committed, so the server discarded them together with the claim.
 * A chunk is therefore either entirely on the target and marked done, or absent and not
 * marked; re-copying an unmarked chunk can never duplicate a row.
 */
export async function copyClaimedChunk(
  source: pg.ClientBase,
  target: pg.ClientBase,
  chunk: ClaimedChunk,
  opts: CopyChunkOptions,
): Promise<{ rows: number; bytes: number }> {
  const { select, columns } = chunkSelect(chunk);
  const format = opts.format ?? chunkFormat(chunk);
  const using = copyOptions(format);
  let snapshot: string | undefined;
  try {
    if (chunk.whole) snapshot = await beginSnapshotRead(source);
    const reader = source.query(
      new CopyOutFrames(`copy (${select}) to stdout${using}`, {
        ...(opts.limiter ? { limiter: opts.limiter } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
      }),
    );
    const writer = target.query(
      new CopyInFrames(`copy ${qualified(chunk.schema, chunk.name)} (${columns}) from stdin${using}`),
    );
    let failedSide: "source" | "target" | undefined;
    reader.once("error", () => {
      failedSide ??= "source";
    });
    writer.once("error", () => {
      failedSide ??= "target";
    });
    try {
      await pipeline(reader, writer, opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      throw chunkError(err, chunk, failedSide);
    }
    const rows = writer.rowCount;
    // Changes committed up to the read snapshot are in the rows: the stream starts after it.
    if (snapshot !== undefined) {
      await setTablePosition(target, chunk.tableId, snapshot);
    }
    await markChunkDone(target, {
      tableId: chunk.tableId,
      chunkNo: chunk.chunkNo,
      rows,
      bytes: reader.bytes,
      worker: opts.worker,
    });
    await target.query("commit");
    if (snapshot !== undefined) await source.query("commit");
    return { rows, bytes: reader.bytes };
  } catch (err) {
    await target.query("rollback").catch(() => {});
    if (snapshot !== undefined) await source.query("rollback").catch(() => {});
    throw err;
  }
}

/**
 * Opens the source transaction of a whole-table copy and returns its snapshot. No statement
 * timeout: the copy lasts as long as the table takes (the watchdog still catches a stall);
 * the source's xmin is held for as long.
 */
async function beginSnapshotRead(source: pg.ClientBase): Promise<string> {
  await source.query("begin isolation level repeatable read read only");
  await source.query("set local statement_timeout = 0");
  const { rows } = await source.query<{ s: string }>("select txid_current_snapshot()::text as s");
  return rows[0]!.s;
}

function chunkError(err: unknown, chunk: ClaimedChunk, side: "source" | "target" | undefined): unknown {
  if (driverFields(err).name === "AbortError") return err;
  // Neither a server's error nor a lost connection (a bug, a PgferryError): passed on as it is.
  if (!isTransient(err) && sqlState(err) === undefined) return err;
  const where = `chunk ${chunk.chunkNo} of ${chunk.table}`;
  // The worker retries CONNECTION_LOST and LOCK_TIMEOUT (see isRetryable); the codes say what
  // happened if it gives up.
  return fromDriverError(err, {
    side,
    what: `Copying ${where}`,
    otherwise: "COPY_FAILED",
    leads: { COPY_FAILED: `Copying ${where} failed` },
    hints: {
      LOCK_TIMEOUT:
        "Another session holds a strong lock on the table (ALTER TABLE, VACUUM FULL, …); let it finish, then run start again.",
    },
  });
}
