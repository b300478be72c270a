import { stallOf } from "../db/index.js";
import type { StatusReport } from "./status-model.js";

/** Who holds up a trigger install: the sessions blocking ours (part of the event vocabulary: progress/ depends on nothing above it). */
export interface LockWaiter {
  table: string;
  pid: number;
  applicationName: string;
  state: string;
  seconds: number;
  query: string;
}

/**
 * The typed facts the library emits while it works. The library never prints: the CLI (or any
 * embedding program) renders these. Keep `type` values stable: `--json` streams them as NDJSON.
 */
export type PgferryEvent =
  | { type: "stage:start"; stage: StageName; message?: string }
  | {
      type: "stage:done";
      stage: StageName;
      message?: string;
      seconds?: number;
      /** Figures for machines (`--json`) that the message leaves out, such as a raw position. */
      data?: Record<string, unknown>;
    }
  | { type: "log"; level: "info" | "warn" | "error"; message: string; table?: string }
  | { type: "lock:wait"; table: string; attempt: number; waiters: LockWaiter[] }
  | { type: "table:phase"; table: string; phase: string }
  | { type: "progress"; status: StatusReport }
  | {
      type: "retry";
      side: "source" | "target";
      attempt: number;
      delayMs: number;
      message: string;
      /** The failure's catalogue code, or the SQLSTATE of a server error, when it has one. */
      code?: string;
    }
  | {
      type: "stall";
      side: "source" | "target";
      /** The session's stage and what it waited for (a statement, shortened, or a COPY). */
      waiting: string;
      /** How long nothing moved before the connection was closed. */
      seconds: number;
      /** What the probe on a new connection found. */
      probe: string;
    }
  | { type: "cutover:step"; step: string; state: "start" | "done" | "undo"; ms?: number }
  | {
      /**
       * One applied window of one table (several a second while changes flow): what the
       * monitor's apply-duration histogram counts. `--json` leaves it out of its stream.
       */
      type: "stream:window";
      /** Absent for a reverse round, which applies every table's changes in one transaction. */
      table?: string;
      direction: "forward" | "reverse";
      changes: number;
      seconds: number;
    }
  | { type: "monitor:listening"; url: string; metricsUrl: string }
  | { type: "demo"; message: string; data?: Record<string, unknown> };

export type StageName =
  | "check"
  | "prepare"
  | "copy"
  | "index"
  | "stream"
  | "verify"
  | "cutover"
  | "rollback"
  /** The rollback window's stream: the target's writes applied back to the source. */
  | "reverse-stream"
  | "cleanup"
  | "demo";

export type EventSink = (event: PgferryEvent) => void;

/** An event as `--json` writes it: with `at`, when it was emitted (ISO 8601, UTC). */
export type StampedEvent = PgferryEvent & { at: string };

/**
 * Adds `at` (after `type`, for reading), so a record kept after the fact says when each
 * thing happened. The events are emitted and rendered synchronously: now is their time.
 */
export function stampEvent(e: PgferryEvent, now: Date = new Date()): StampedEvent {
  const { type, ...rest } = e;
  return { type, at: now.toISOString(), ...rest } as StampedEvent;
}

/** The `stall` event for an error caused by a stalled session (db/watchdog.ts), if it is one. */
export function stallEvent(err: unknown): PgferryEvent | undefined {
  const s = stallOf(err);
  if (!s || (s.side !== "source" && s.side !== "target")) return undefined;
  return {
    type: "stall",
    side: s.side,
    waiting: s.waiting,
    seconds: Math.round(s.silentMs / 1000),
    probe: s.probe,
  };
}

export const noEvents: EventSink = () => {};
