import { redact } from "../errors/index.js";
import { type PgferryEvent, type StampedEvent, stampEvent } from "../progress/events.js";

const HIDDEN = "(not shown by the monitor)";

/**
 * An event as the monitor serves it: stamped, every string scrubbed of passwords, and without
 * the application's SQL (a lock holder's query carries its values).
 */
export function publicEvent(e: PgferryEvent, now: Date = new Date()): StampedEvent {
  const shown: PgferryEvent =
    e.type === "lock:wait" ? { ...e, waiters: e.waiters.map((w) => ({ ...w, query: HIDDEN })) } : e;
  return scrub(stampEvent(shown, now)) as StampedEvent;
}

/** Every string in a JSON value through redact(). */
export function scrub<T>(value: T): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => scrub(v)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrub(v);
    return out as T;
  }
  return value;
}
