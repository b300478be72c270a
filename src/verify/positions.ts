/** A txid snapshot ("xmin:xmax:xip,…"), 64-bit txids as bigints. */
export interface Snapshot {
  xmin: bigint;
  xmax: bigint;
  xip: bigint[];
}

export function parseSnapshot(text: string): Snapshot {
  const [xmin, xmax, xip] = text.split(":");
  if (xmin === undefined || xmax === undefined) throw new Error(`not a txid snapshot: ${text}`);
  return {
    xmin: BigInt(xmin),
    xmax: BigInt(xmax),
    xip: xip ? xip.split(",").filter(Boolean).map(BigInt) : [],
  };
}

/**
 * True when every transaction committed as of `earlier` is also visible in `later`: a table
 * whose applied position covers a snapshot taken on the source holds every change up to it.
 * Visible in S: txid < S.xmax and not in S.xip. So `later` must reach S.xmax, and anything
 * it still sees as running below S.xmax must have been running in S too.
 */
export function covers(later: Snapshot, earlier: Snapshot): boolean {
  if (later.xmax < earlier.xmax) return false;
  const running = new Set(earlier.xip);
  return later.xip.every((x) => x >= earlier.xmax || running.has(x));
}
