import type { PgferryEvent } from "../../progress/events.js";
import { formatDuration } from "./format.js";

/** One line for an event, or undefined for events the view shows otherwise (progress). */
export function eventLine(e: PgferryEvent): string | undefined {
  switch (e.type) {
    case "stage:start":
      return `${e.stage}: started${e.message ? ` (${e.message})` : ""}`;
    case "stage:done":
      return `${e.stage}: done${e.seconds !== undefined ? ` in ${formatDuration(e.seconds)}` : ""}${e.message ? ` (${e.message})` : ""}`;
    case "log":
      return `${e.level === "info" ? "" : `${e.level}: `}${e.table ? `${e.table}: ` : ""}${e.message}`;
    case "lock:wait": {
      const who = e.waiters
        .map(
          (w) =>
            `pid ${w.pid} (${w.applicationName || "no application_name"}, ${w.state || "?"}, ${formatDuration(w.seconds)})`,
        )
        .join(", ");
      return `waiting for a lock on ${e.table} (round ${e.attempt})${who ? `: held by ${who}` : ""}; other tables go on`;
    }
    case "table:phase":
      return `${e.table}: ${e.phase}`;
    case "retry":
      return `retrying on the ${e.side} (attempt ${e.attempt}, in ${(e.delayMs / 1000).toFixed(1)}s): ${e.message}`;
    case "stall":
      return `the ${e.side} stalled: nothing for ${formatDuration(e.seconds)} while ${e.waiting} waited (${e.probe}); reconnecting`;
    case "cutover:step":
      return `cutover ${e.step}: ${e.state}${e.ms !== undefined ? ` (${e.ms} ms)` : ""}`;
    case "demo":
      return e.message;
    case "monitor:listening":
      return `dashboard: ${e.url} (Prometheus metrics: ${e.metricsUrl})`;
    case "progress":
    case "stream:window":
      return undefined;
    default: {
      // Event kinds added later still show their message, if they carry one.
      const m = (e as { message?: unknown }).message;
      return typeof m === "string" ? m : undefined;
    }
  }
}
