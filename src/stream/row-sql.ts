import { createHash } from "node:crypto";
import { ident, qualified } from "../db/quote.js";
import { copiedColumns } from "./sql.js";
import type { StreamTable } from "./types.js";

/**
 * The SQL of a window of a table without a key (decisions.md, "Tables without a key"). The log holds whole row images
 * ('I' new, 'D' old; an UPDATE is both). A window is applied as net counts: per distinct row,
 * the number of 'I' minus the number of 'D'. Netting needs no order: every 'D' in the real
 * history removed a row that existed then, so over a window that ends at a real snapshot the
 * deltas add up to the change of the multiset, whatever the order. Rows are matched in the
 * apply side's own rendering: an image is parsed into the apply side's row type and printed
 * again, so float digits, bytea or time zone forms that differ between the writer's session
 * and the apply session, or between major versions, still match.
 */

type RowTable = Pick<StreamTable, "id" | "schema" | "name" | "kind" | "columns" | "shape">;

/**
 * What one window of a keyless table does: nothing (no log rows), apply the net counts, or
 * copy the table whole in the window's snapshot. A TRUNCATE in the window (of the table or a
 * leaf) cannot be netted across, and a table resumed after DDL (`recopy`) has rows of the old
 * shape in its log: both copy. Used by the forward and the reverse stream alike.
 */
export type RowWindowPlan = "none" | "net" | "copy";

export function rowWindowPlan(w: { changes: number; truncates: number; recopy: boolean }): RowWindowPlan {
  if (w.truncates > 0 || w.recopy) return "copy";
  return w.changes > 0 ? "net" : "none";
}

function only(t: Pick<StreamTable, "kind">): string {
  return t.kind === "partitioned" ? "" : "only ";
}

/** A temp table per table and shape on each apply session: (image text, net count). */
export function rowStagingName(t: RowTable): string {
  const h = createHash("sha1").update(t.shape).digest("hex").slice(0, 8);
  return `pgferry_rows_${t.id}_${h}`;
}

export function createRowStagingSql(t: RowTable): string {
  return `create temp table if not exists ${ident(rowStagingName(t))} (img text, n int8) on commit delete rows`;
}

/**
 * The window's images with their net counts, read on the side that logged them. Grouped by
 * the logged text (equal text is the same value); the apply side groups again by its own
 * rendering, where two texts of one value meet.
 */
export function rowCopyOutSql(where: string): string {
  const delta = "sum(case c.op when 'I' then 1 else -1 end)";
  return `copy (select c.key #>> '{}', ${delta} from pgferry.changes c
  where ${where} and c.op in ('I', 'D') group by 1 having ${delta} <> 0) to stdout`;
}

export function rowCopyInSql(t: RowTable): string {
  return `copy pg_temp.${ident(rowStagingName(t))} (img, n) from stdin`;
}

/** Net count per row, as the apply side prints the row; only rows whose count moved. */
function netRows(t: RowTable, sign: "<" | ">"): string {
  const rowType = qualified(t.schema, t.name);
  return `(select (s.img::${rowType})::text as r, sum(s.n)::int8 as n from pg_temp.${ident(rowStagingName(t))} s
          group by 1 having sum(s.n) ${sign} 0)`;
}

/**
 * The two statements of a netted window, in this order: delete |n| rows of each image whose
 * count fell (one scan of the table, matching every such image at once), then insert n
 * copies of each image whose count rose. Generated columns are computed; identity columns
 * keep the logged values.
 */
export function rowApplySql(t: RowTable): { del: string; ins: string } {
  const rel = qualified(t.schema, t.name);
  const del = `delete from ${only(t)}${rel} t where (t.tableoid, t.ctid) in (
  select m.tableoid, m.ctid from (
    select x.tableoid, x.ctid, -d.n as want, row_number() over (partition by d.r) as rn
      from ${only(t)}${rel} x join ${netRows(t, "<")} d on x::text = d.r) m
   where m.rn <= m.want)`;
  const cols = copiedColumns(t);
  const ins = `insert into ${rel} (${cols.map((c) => ident(c.name)).join(", ")}) overriding system value
select ${cols.map((c) => `(p.rec).${ident(c.name)}`).join(", ")}
  from (select d.r::${rel} as rec, d.n from ${netRows(t, ">")} d) p
  cross join lateral generate_series(1, p.n)`;
  return { del, ins };
}

/** A whole-table copy (after a TRUNCATE in the window): the read side's rows in its snapshot. */
export function wholeCopyOutSql(t: RowTable): string {
  const cols = copiedColumns(t).map((c) => ident(c.name));
  return `copy (select ${cols.join(", ")} from ${only(t)}${qualified(t.schema, t.name)}) to stdout`;
}

export function wholeCopyInSql(t: RowTable): string {
  const cols = copiedColumns(t).map((c) => ident(c.name));
  return `copy ${qualified(t.schema, t.name)} (${cols.join(", ")}) from stdin`;
}

export function truncateWholeSql(t: RowTable): string {
  return `truncate ${only(t)}${qualified(t.schema, t.name)}`;
}
