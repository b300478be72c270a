import type pg from "pg";
import { SQLSTATE } from "../db/index.js";
import { ident } from "../db/quote.js";
import { cutSnapshot, formatSnapshot, parseSnapshot } from "../positions/index.js";
import { lockAppliedTableSql, windowAppliedSql } from "../state/index.js";
import { ddlPauseReason, describeShapeChange, locateOnSource, renamePauseReason, shapeOf } from "./ddl.js";
import { rowApplySql, rowWindowPlan, truncateWholeSql } from "./row-sql.js";
import { onSide, type Session, sideOf, sqlState } from "./sessions.js";
import { applySql, columnsJsonSql, regclassOf, relation, windowWhere } from "./sql.js";
import { pauseTable, toStreamTable } from "./table-state.js";
import type { ApplyMode, StoredColumn, StreamTable } from "./types.js";
import {
  copyWindow,
  keyWindowCopy,
  rowWindowCopy,
  truncateEntrySql,
  wholeTableCopy,
  windowSizeSql,
} from "./window-copy.js";

/** The two sessions of one apply worker and what it needs to know about them. */
export interface ApplySessions {
  /** Where the log and the current rows are read (the source, or the target in reverse). */
  read: Session;
  /** Where the rows and the table's position are written. */
  write: Session;
  readMajor: number;
}

export interface WindowOptions {
  /** "skip": leave a table another worker holds; "wait": queue for it (catch-up). */
  lock: "skip" | "wait";
  /** Most log rows in this window (Infinity: everything up to now). */
  maxChanges: number;
  /** Commit durably (cutover) instead of the apply sessions' asynchronous commit. */
  syncCommit?: boolean;
}

export interface WindowOutcome {
  status: "applied" | "skipped" | "paused" | "locked";
  table?: StreamTable;
  /** Log rows applied. */
  changes: number;
  /** Distinct keys re-read. */
  keys: number;
  /** The window was cut: more is waiting. */
  more: boolean;
  /** A cut window met a unique conflict and was re-applied whole. */
  uncut?: boolean;
  phaseBefore?: string;
  reason?: string;
  /** How long the window took, read and apply (set by the worker pool). */
  seconds?: number;
}

const SKIPPED: WindowOutcome = { status: "skipped", changes: 0, keys: 0, more: false };
/** Staging tables kept per session: each commit truncates every ON COMMIT DELETE ROWS table it touched. */
const MAX_STAGED = 16;

/**
 * Applies one window of one table: its distinct keys and their current rows, read in one
 * REPEATABLE READ transaction on the read side after locking the table against DDL, replace
 * the keys on the write side in ONE transaction together with the table's new position.
 * The position is the read snapshot itself, so after the commit the table equals the source
 * table as of that snapshot (or, for a cut window, every key is at least that new).
 */
export async function applyTableWindow(
  s: ApplySessions,
  tableId: number,
  opts: WindowOptions,
): Promise<WindowOutcome> {
  const tgt = await onSide("target", () => s.write.get());
  const lock = opts.lock === "skip" ? "for update skip locked" : "for update";
  const res = (await onSide("target", () =>
    tgt.query<Record<string, unknown>>(
      `begin; ${opts.syncCommit ? "set local synchronous_commit = on;" : ""}
       ${lockAppliedTableSql(tableId, lock)}`,
    ),
  )) as unknown as pg.QueryResult<Record<string, unknown>>[];
  const row = res[res.length - 1]!.rows[0];
  if (!row) {
    await onSide("target", () => tgt.query("rollback"));
    return SKIPPED;
  }
  const t = toStreamTable(row);
  try {
    const out = await applyLocked(s, tgt, t, opts, "replace");
    return { ...out, table: t, phaseBefore: t.phase };
  } catch (err) {
    await s.write.rollback();
    await s.read.rollback();
    if (err instanceof CutConflict) {
      // Rows newer than the cut met rows the target still holds older: apply uncut.
      const whole = await applyTableWindow(s, tableId, { ...opts, maxChanges: Number.POSITIVE_INFINITY });
      return { ...whole, uncut: true };
    }
    const reason = rejectionReason(err);
    if (reason === undefined) throw err;
    await pauseAfterError(s.write, t, reason, err);
    return { ...SKIPPED, status: "paused", reason, table: t, phaseBefore: t.phase };
  }
}

class CutConflict extends Error {}

/**
 * Errors that say this table's window cannot apply as things stand (the target table differs
 * from the source: a column, a type, a constraint): the table pauses, the others go on.
 */
function rejectionReason(err: unknown): string | undefined {
  const code = sqlState(err) ?? "";
  if (!/^(22|23|42|0A)/.test(code)) return undefined;
  const side = sideOf(err) ?? "target";
  const what = (err as Error).message;
  return side === "source"
    ? `The source refused to read this table's changes: ${what} (SQLSTATE ${code}). Check the table for DDL, then run \`pgferry start\` again.`
    : `The target refused this table's changes: ${what} (SQLSTATE ${code}). Make the target table match the source, then run \`pgferry start\` again.`;
}

async function pauseAfterError(write: Session, t: StreamTable, reason: string, err: unknown): Promise<void> {
  const tgt = await onSide("target", () => write.get());
  await onSide("target", async () => {
    await tgt.query("begin");
    await pauseTable(tgt, t, reason, { sqlstate: sqlState(err), side: sideOf(err) ?? "target" });
    await tgt.query("commit");
  });
}

interface FirstRead {
  q: string;
  beat: string | null;
  oid: string;
  columns: StoredColumn[];
  n: string;
  truncs: string[];
}

async function applyLocked(
  s: ApplySessions,
  tgt: pg.Client,
  t: StreamTable,
  opts: WindowOptions,
  mode: ApplyMode,
): Promise<WindowOutcome> {
  const src = await onSide("source", () => s.read.get());
  // A keyless table's window always ends at the read snapshot itself: a cut snapshot is not
  // a state the source was ever in (an insert can carry a later txid than the delete of the
  // same row), and net counts are exact only between real snapshots (row-sql.ts).
  const cap = t.identity === "row" ? Number.POSITIVE_INFINITY : opts.maxChanges;
  const first = await readWindowHead(s, src, t, cap);
  if ("outcome" in first) return finishWithoutApply(tgt, t, first.outcome);
  const now = shapeOf(first.columns);
  if (now !== t.shape) {
    await s.read.rollback();
    const reason = ddlPauseReason(t, describeShapeChange(t.columns, first.columns));
    await pauseTable(tgt, t, reason, { storedShape: t.shape, sourceShape: now });
    await tgt.query("commit");
    return { ...SKIPPED, status: "paused", reason };
  }
  let n = Number(first.n);
  let truncs = first.truncs;
  let to: string | undefined;
  if (n > cap) {
    to = await cutWindow(src, t, first.q, opts.maxChanges);
    const w = windowWhere(t.id, t.position, to);
    const r = await onSide("source", () =>
      src.query<Pick<FirstRead, "n" | "truncs">>(`select ${windowSizeSql(w)}`),
    );
    n = Number(r.rows[0]!.n);
    truncs = r.rows[0]!.truncs;
  }
  const done = to === undefined;
  const plan = rowWindowPlan({ changes: n, truncates: truncs.length, recopy: t.recopy });
  const position = windowAppliedSql(t.id, {
    position: to ?? first.q,
    changes: n,
    sourceOid: Number(first.oid),
    done,
    beat: first.beat,
  });
  let keys = 0;
  const finish: string[] = [];
  if (t.identity === "row" && plan !== "none") {
    keys = await stageRowWindow(s, src, tgt, t, plan === "copy", windowWhere(t.id, t.position));
    if (plan === "net") {
      const { del, ins } = rowApplySql(t);
      finish.push(del, ins);
    }
  } else if (n > 0 || truncs.length > 0) {
    keys = await stageWindow(s, src, tgt, t, truncs, windowWhere(t.id, t.position, to));
    finish.push(...applySql(t, mode));
  }
  // The rows, the position and the commit in one round trip.
  try {
    await onSide("target", () => tgt.query([...finish, position, "commit"].join(";\n")));
  } catch (err) {
    const code = sqlState(err);
    if (to !== undefined && (code === SQLSTATE.uniqueViolation || code === SQLSTATE.exclusionViolation))
      throw new CutConflict();
    throw err;
  }
  await onSide("source", () => src.query("commit"));
  await trimStaging(s.write, tgt);
  return { status: "applied", changes: n, keys, more: !done };
}

/**
 * Begins the read transaction: LOCK first (so no DDL slips between the shape check and the
 * COPY, and the snapshot is taken after the lock), then the position, heartbeat, shape,
 * window size and TRUNCATE entries, in one round trip.
 */
async function readWindowHead(
  s: ApplySessions,
  src: pg.Client,
  t: StreamTable,
  cap: number,
): Promise<FirstRead | { outcome: WindowOutcome }> {
  const w = windowWhere(t.id, t.position);
  const only = t.kind === "partitioned" ? "" : "only ";
  try {
    const res = (await onSide("source", () =>
      src.query<FirstRead>(
        `begin isolation level repeatable read read only;
         lock table ${only}${relation(t)} in access share mode;
         select txid_current_snapshot()::text as q,
                (select max(beat_at)::text from pgferry.heartbeat) as beat,
                ${regclassOf(t)}::oid::int8::text as oid,
                ${columnsJsonSql(regclassOf(t), s.readMajor)} as columns,
                ${windowSizeSql(w, Number.isFinite(cap) ? Math.trunc(cap) + 1 : undefined)}`,
      ),
    )) as unknown as pg.QueryResult<FirstRead>[];
    return res[2]!.rows[0]!;
  } catch (err) {
    const code = sqlState(err);
    if (code !== SQLSTATE.undefinedTable && code !== SQLSTATE.lockNotAvailable) throw err;
    await s.read.rollback();
    if (code === SQLSTATE.lockNotAvailable) return { outcome: { ...SKIPPED, status: "locked" } };
    const now = await locateOnSource(await s.read.get(), s.readMajor, t);
    const reason = renamePauseReason(t, now);
    return { outcome: { ...SKIPPED, status: "paused", reason } };
  }
}

async function finishWithoutApply(
  tgt: pg.Client,
  t: StreamTable,
  out: WindowOutcome,
): Promise<WindowOutcome> {
  if (out.status === "paused") {
    await pauseTable(tgt, t, out.reason!, {});
    await tgt.query("commit");
  } else {
    await tgt.query("rollback");
  }
  return out;
}

/** Where to cut an oversized window: after the first `cap` log rows in txid order. */
async function cutWindow(src: pg.Client, t: StreamTable, q: string, cap: number): Promise<string> {
  const w = windowWhere(t.id, t.position);
  const r = await onSide("source", () =>
    src.query<{ first: string; cut: string | null }>(
      `select (select c.txid from pgferry.changes c where ${w} order by c.txid limit 1)::text as first,
              (select c.txid from pgferry.changes c where ${w} order by c.txid offset ${Math.trunc(cap)} limit 1)::text as cut`,
    ),
  );
  const row = r.rows[0]!;
  const firstTxid = BigInt(row.first);
  let cut = BigInt(row.cut ?? row.first);
  // One transaction larger than the cap is applied whole: a position cannot split it.
  if (cut <= firstTxid) cut = firstTxid + 1n;
  return formatSnapshot(cutSnapshot(parseSnapshot(t.position), parseSnapshot(q), cut));
}

/** Truncates what the window truncated, then streams its keys' rows into the staging table. */
async function stageWindow(
  s: ApplySessions,
  src: pg.Client,
  tgt: pg.Client,
  t: StreamTable,
  truncs: string[],
  where: string,
): Promise<number> {
  for (const k of truncs) await onSide("target", () => tgt.query(truncateEntrySql(t, k)));
  return copyWindow(s, src, tgt, keyWindowCopy(t, where), "source");
}

/**
 * A keyless table's window on the write side: its images with their net counts into the
 * staging table; or, when the window holds a TRUNCATE (no net count crosses it) or the table
 * resumed after DDL (its log holds rows of the old shape), the table truncated and copied
 * whole in the read transaction's snapshot, which is the position stored.
 * Returns the images staged (or rows copied).
 */
async function stageRowWindow(
  s: ApplySessions,
  src: pg.Client,
  tgt: pg.Client,
  t: StreamTable,
  truncated: boolean,
  where: string,
): Promise<number> {
  if (!truncated) return copyWindow(s, src, tgt, rowWindowCopy(t, where), "source");
  await onSide("target", () => tgt.query(truncateWholeSql(t)));
  return copyWindow(s, src, tgt, wholeTableCopy(t), "source");
}

/** Drops the least recently used staging tables beyond MAX_STAGED (after the commit). */
async function trimStaging(write: Session, tgt: pg.Client): Promise<void> {
  while (write.staged.size > MAX_STAGED) {
    const oldest = write.staged.values().next().value as string;
    write.staged.delete(oldest);
    await onSide("target", () => tgt.query(`drop table if exists pg_temp.${ident(oldest)}`));
  }
}
