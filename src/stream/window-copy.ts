import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import {
  createRowStagingSql,
  rowCopyInSql,
  rowCopyOutSql,
  rowStagingName,
  wholeCopyInSql,
  wholeCopyOutSql,
} from "./row-sql.js";
import { onSide, type Session, tagSide } from "./sessions.js";
import { copyInSql, copyOutSql, createStagingSql, stagingName, truncateSql } from "./sql.js";
import type { StreamTable } from "./types.js";

/**
 * What one window moves from the side that logged it (the read side: the source, or the
 * target in reverse) to the side it is applied on, in either direction: its size and TRUNCATE
 * entries, and the COPY that stages its rows (a keyed table's keys' current rows, a keyless
 * table's images with their net counts, or a keyless table whole).
 */

type Side = "source" | "target";

/** One COPY of a window: out of the read side, into the write side, into `stage` if given. */
export interface WindowCopy {
  out: string;
  in: string;
  /** The temp table the COPY fills, created on the write session when it lacks it. */
  stage?: { name: string; create: string };
}

/** A keyed table's window: the current rows of its distinct keys, into its staging table. */
export function keyWindowCopy(t: StreamTable, where: string): WindowCopy {
  return {
    out: copyOutSql(t, where),
    in: copyInSql(t),
    stage: { name: stagingName(t), create: createStagingSql(t) },
  };
}

/** A keyless table's window: its row images with their net counts, into its row staging table. */
export function rowWindowCopy(t: StreamTable, where: string): WindowCopy {
  return {
    out: rowCopyOutSql(where),
    in: rowCopyInSql(t),
    stage: { name: rowStagingName(t), create: createRowStagingSql(t) },
  };
}

/** A keyless table whole, in the read transaction's snapshot, straight into the table. */
export function wholeTableCopy(t: StreamTable): WindowCopy {
  return { out: wholeCopyOutSql(t), in: wholeCopyInSql(t) };
}

/**
 * The window's size and its TRUNCATE entries (a select list: `n` as text, `truncs` the
 * distinct truncated relations' keys, '' for the table itself), for the log rows `where`
 * selects; with `limit`, `n` counts no further than that.
 */
export function windowSizeSql(where: string, limit?: number): string {
  const n =
    limit === undefined
      ? `(select count(*) from pgferry.changes c where ${where})::text as n`
      : `(select count(*) from (select 1 from pgferry.changes c where ${where} limit ${Math.trunc(limit)}) x)::text as n`;
  return `${n},
                array(select distinct coalesce(c.key::text, '') from pgferry.changes c where ${where} and c.op = 'T') as truncs`;
}

/** The TRUNCATE of one entry of `truncs`: the table itself (''), or the leaf partition it names. */
export function truncateEntrySql(t: StreamTable, entry: string): string {
  return truncateSql(t, entry === "" ? null : (JSON.parse(entry) as { schema?: string; name?: string }));
}

/**
 * Runs one window's COPY: creates its staging table on the write session if that session
 * lacks it (and marks it the most recently used), then pipes the read side's COPY TO into the
 * write side's COPY FROM, each error tagged with its side. A COPY cut in the middle leaves the
 * read connection mid-protocol: the read session is discarded. Returns the rows written.
 */
export async function copyWindow(
  sessions: { read: Session; write: Session },
  from: pg.Client,
  to: pg.Client,
  copy: WindowCopy,
  readSide: Side,
): Promise<number> {
  const writeSide: Side = readSide === "source" ? "target" : "source";
  const stage = copy.stage;
  if (stage) {
    const staged = sessions.write.staged;
    if (!staged.has(stage.name)) await onSide(writeSide, () => to.query(stage.create));
    staged.delete(stage.name);
    staged.add(stage.name);
  }
  const out = from.query(copyTo(copy.out));
  const into = to.query(copyFrom(copy.in));
  out.on("error", (e) => tagSide(e, readSide));
  into.on("error", (e) => tagSide(e, writeSide));
  try {
    await pipeline(out, into);
  } catch (err) {
    await sessions.read.discard();
    throw err;
  }
  return into.rowCount;
}
