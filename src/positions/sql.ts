/**
 * The rule that no window skips a transaction, as SQL: the log rows (alias `c`, a
 * pgferry.changes row) committed after position `p` (an SQL expression of type txid_snapshot):
 * not visible in p. Only rows with txid ≥ xmin(p) can be, which lets the (tbl, txid) index
 * bound the scan. Rows not yet committed are not visible to the reading transaction anyway.
 */
export function changesAfter(p: string, c = "c"): string {
  return `${c}.txid >= txid_snapshot_xmin(${p}) and not txid_visible_in_snapshot(${c}.txid, ${p})`;
}

/** …and visible in `q`: the window (p, q]. */
export function changesUpTo(q: string, c = "c"): string {
  return `${c}.txid < txid_snapshot_xmax(${q}) and txid_visible_in_snapshot(${c}.txid, ${q})`;
}
