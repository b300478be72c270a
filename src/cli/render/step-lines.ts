import type { PgferryEvent } from "../../progress/events.js";
import type { CliContext } from "../context.js";
import { paint } from "../output.js";

/** Prints the steps as they finish (stderr with --json, so stdout stays one JSON object). */
export function stepPrinter(
  ctx: CliContext,
  json: boolean | undefined,
  eventLine: (e: PgferryEvent) => string | undefined,
): (e: PgferryEvent) => void {
  const print = (line: string) => (json ? ctx.out.error(line) : ctx.out.line(line));
  return (e) => {
    if (e.type === "cutover:step") {
      if (e.state === "done") print(`  ${paint(ctx.out, "green", "✓")} ${e.step} (${e.ms} ms)`);
      else if (e.state === "undo") print(`  ${paint(ctx.out, "yellow", "↶")} undo ${e.step}`);
      return;
    }
    if (e.type === "log" || e.type === "lock:wait" || e.type === "retry") {
      const line = eventLine(e);
      if (line) print(`  ${line}`);
    }
  };
}
