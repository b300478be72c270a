import { type PgferryEvent, stampEvent } from "../../progress/events.js";
import type { StatusReport } from "../../progress/status-model.js";
import type { Output } from "../output.js";
import { eventLine } from "./event-lines.js";
import { LiveView } from "./live-view.js";
import { statusLines, summaryLine, tablesLine } from "./status-lines.js";

export { eventLine } from "./event-lines.js";
export { formatBytes, formatCount, formatDuration } from "./format.js";
export { LiveView } from "./live-view.js";
export { statusLines, summaryLine, tablesLine } from "./status-lines.js";

/** tty: live redraw; plain: a status line at a steady pace plus one line per event; json: NDJSON events. */
export type RenderMode = "tty" | "plain" | "json";

export function chooseMode(out: Pick<Output, "isTTY">, json: boolean | undefined): RenderMode {
  if (json) return "json";
  return out.isTTY ? "tty" : "plain";
}

/** How often the progress events should come, per mode. */
export function progressInterval(mode: RenderMode): number {
  return mode === "tty" ? 1000 : 5000;
}

export interface Renderer {
  onEvent(e: PgferryEvent): void;
  /** Draws the last status, ends the live view. */
  stop(): void;
}

/** Rows of the terminal left for the per-table lines of the live view. */
function liveTableRows(): number {
  const rows = process.stdout.rows || 24;
  return Math.max(3, Math.min(12, rows - 8));
}

export function makeRenderer(out: Output, mode: RenderMode, plainEveryMs = 5000): Renderer {
  if (mode === "json")
    return {
      // Per-window events come several times a second: they feed the monitor, not the stream.
      onEvent: (e) => (e.type === "stream:window" ? undefined : out.json(stampEvent(e))),
      stop: () => {},
    };
  if (mode === "plain") {
    let lastAt = 0;
    return {
      onEvent(e) {
        if (e.type !== "progress") {
          const line = eventLine(e);
          if (line) out.line(line);
          return;
        }
        if (Date.now() - lastAt < plainEveryMs - 100) return;
        lastAt = Date.now();
        out.line(`${summaryLine(e.status)} · ${tablesLine(e.status)}`);
      },
      stop: () => {},
    };
  }
  const view = new LiveView(out);
  const maxTables = liveTableRows();
  return {
    onEvent(e) {
      if (e.type === "progress") return view.render(liveLines(e.status, maxTables));
      // Per-table phase changes are in the block itself; everything else scrolls above it.
      if (e.type === "table:phase") return;
      const line = eventLine(e);
      if (line) view.message(line);
    },
    stop: () => view.stop(),
  };
}

/** The table list is fixed once prepared, so min(rows available, tables) keeps the block's height steady. */
export function liveLines(s: StatusReport, maxTables: number): string[] {
  return statusLines(s, { maxTables: Math.min(maxTables, s.tables.length), fixed: true });
}
