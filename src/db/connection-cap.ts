import type { ConnInfo } from "./conn-info.js";
import { Slots } from "./slots.js";

/**
 * A hard cap on the sessions one pgferry process holds to one database (issue 17, item 8: the
 * stream held more source connections than check had budgeted and kept opening more, and the
 * application got "too many connections for role"). connect() takes a slot before it opens a
 * session and gives it back when the session ends; past the cap it waits, in order, for one to
 * end. The cap belongs to a ConnInfo of the run's own (withConnectionCap), which its stages
 * share: other work in the same process (the demo's verify and cutover beside its start) keeps
 * its sessions out of it, and never waits behind the stream's.
 */
const caps = new WeakMap<ConnInfo, Slots>();

/** The fewest sessions a cap may allow: the stream needs its reader, the heartbeat and one applier. */
export const MIN_CONNECTION_CAP = 3;

/**
 * The same connection as `info`, for one run, whose sessions are capped at `max` (at least
 * MIN_CONNECTION_CAP). Derived from `info`: its password stays non-enumerable, inherited.
 */
export function withConnectionCap(info: ConnInfo, max: number): ConnInfo {
  const own = Object.freeze(Object.create(info) as ConnInfo);
  caps.set(own, new Slots(Math.max(MIN_CONNECTION_CAP, Math.floor(max))));
  return own;
}

/** The cap set for `info`, if any. */
export function connectionCap(info: ConnInfo): number | undefined {
  return caps.get(info)?.size;
}

/** A slot for one session with `info` (a no-op without a cap); call the result when it ends. */
export async function takeConnectionSlot(info: ConnInfo, signal?: AbortSignal): Promise<() => void> {
  const slots = caps.get(info);
  return slots ? slots.take(signal) : () => {};
}
