/**
 * txid snapshots ("xmin:xmax:xip,…", the text of txid_current_snapshot()) as values: positions
 * of the stream. A txid t is visible in snapshot S when t < xmin, or t < xmax and t is not in
 * xip. The window (P, Q] holds the log rows visible in Q and not in P (the PgQ rule).
 */
export interface TxidSnapshot {
  xmin: bigint;
  xmax: bigint;
  /** In progress when the snapshot was taken; ascending, unique, each in [xmin, xmax). */
  xip: bigint[];
}

export function parseSnapshot(text: string): TxidSnapshot {
  const m = /^(\d+):(\d+):([\d,]*)$/.exec(text.trim());
  if (!m) throw new Error(`not a txid snapshot: ${JSON.stringify(text)}`);
  const xmin = BigInt(m[1]!);
  const xmax = BigInt(m[2]!);
  const xip = m[3] ? m[3].split(",").map((s) => BigInt(s)) : [];
  if (xmin > xmax || xip.some((t, i) => t < xmin || t >= xmax || (i > 0 && t <= xip[i - 1]!))) {
    throw new Error(`not a valid txid snapshot: ${JSON.stringify(text)}`);
  }
  return { xmin, xmax, xip };
}

export function formatSnapshot(s: TxidSnapshot): string {
  return `${s.xmin}:${s.xmax}:${s.xip.join(",")}`;
}

export function isVisible(txid: bigint, s: TxidSnapshot): boolean {
  if (txid < s.xmin) return true;
  if (txid >= s.xmax) return false;
  return !s.xip.includes(txid);
}

/**
 * The snapshot whose visible set is visible(p) ∪ { t ∈ visible(q) : t < cut }: the window
 * (p, q] cut at a txid, so an oversized backlog is applied in bounded windows. Requires that
 * q sees everything p sees (q is later). Any such set is a valid position: replay fetches the
 * current rows of a window's keys, so each committed log row needs to fall in exactly one
 * applied window, in any order. (Reading rows newer than the cut can briefly break a
 * secondary unique constraint on the target; the caller then re-applies the window uncut.)
 */
export function cutSnapshot(p: TxidSnapshot, q: TxidSnapshot, cut: bigint): TxidSnapshot {
  const upper = cut < q.xmax ? cut : q.xmax;
  const xmax = p.xmax > upper ? p.xmax : upper;
  const hidden = new Set<bigint>();
  for (const t of p.xip) if (!(t < cut && isVisible(t, q))) hidden.add(t);
  // Above p.xmax, p sees nothing: only q's in-progress txids below the new xmax stay hidden.
  for (const t of q.xip) if (t >= p.xmax && t < xmax) hidden.add(t);
  const xip = [...hidden].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { xmin: xip[0] ?? xmax, xmax, xip };
}

/** True when every txid visible in `a` is visible in `b` (b is at or after a). */
export function snapshotCovers(b: TxidSnapshot, a: TxidSnapshot): boolean {
  if (b.xmax < a.xmax) {
    // b sees nothing in [b.xmax, a.xmax): a must see nothing there either, i.e. all of it is in a.xip.
    if (b.xmax < a.xmin) return false;
    const hiddenInA = a.xip.filter((t) => t >= b.xmax).length;
    if (BigInt(hiddenInA) !== a.xmax - b.xmax) return false;
  }
  for (const t of b.xip) if (isVisible(t, a)) return false;
  return true;
}
