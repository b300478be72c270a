import type { Side } from "../errors/index.js";

const open: Record<Side, number> = { source: 0, target: 0, local: 0 };

/**
 * Counts a session of this process as open until the returned function is called (once:
 * later calls do nothing). What the monitor's connection gauges show.
 */
export function sessionOpened(side: Side): () => void {
  open[side]++;
  let closed = false;
  return () => {
    if (closed) return;
    closed = true;
    open[side]--;
  };
}

/** The sessions this process holds open now, per side. */
export function openSessions(): Readonly<Record<Side, number>> {
  return { ...open };
}
