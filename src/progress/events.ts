import type { LockWaiter } from "../capture/index.js";
import type { StatusReport } from "./status-model.js";

/**
 * The typed facts the library emits while it works. The library never prints: the CLI (or any
 * embedding program) renders these. Keep `type` values stable: `--json` streams them as NDJSON.
 */
export type PgferryEvent =
  | { type: "stage:start"; stage: StageName; message?: string }
  | { type: "stage:done"; stage: StageName; message?: string; seconds?: number }
  | { type: "log"; level: "info" | "warn" | "error"; message: string; table?: string }
  | { type: "lock:wait"; table: string; attempt: number; waiters: LockWaiter[] }
  | { type: "table:phase"; table: string; phase: string }
  | { type: "progress"; status: StatusReport }
  | { type: "retry"; side: "source" | "target"; attempt: number; delayMs: number; message: string }
  | { type: "cutover:step"; step: string; state: "start" | "done" | "undo"; ms?: number }
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
  | "cleanup"
  | "demo";

export type EventSink = (event: PgferryEvent) => void;

export const noEvents: EventSink = () => {};
