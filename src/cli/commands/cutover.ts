import type { Command } from "commander";
import type { MigrationContext } from "../../context.js";
import type { CutoverResult } from "../../cutover/index.js";
import type { PgferryEvent } from "../../progress/events.js";
import type { CliContext } from "../context.js";
import { addConnectionOptions, nonNegativeNumber, positiveInt } from "../options.js";
import { paint } from "../output.js";

interface CutoverFlags {
  source?: string;
  target?: string;
  maxLag?: number;
  switchCommand?: string;
  rollbackWindow?: boolean;
  sequenceGap?: number;
  drainTimeout?: number;
  switchTimeout?: number;
  json?: boolean;
}

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

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("cutover")
    .description(
      "fence writes on the source, drain, apply the last changes, sequences, constraints, verify, run the switch command",
    );
  addConnectionOptions(cmd)
    .option(
      "--max-lag <seconds>",
      "refuse to start when the target is further behind (default 10)",
      nonNegativeNumber("--max-lag"),
    )
    .option(
      "--switch-command <cmd>",
      "shell command that points the application at the target; gets PGFERRY_TARGET_URL in its environment (or PGFERRY_SWITCH_COMMAND)",
    )
    .option(
      "--rollback-window",
      "capture on the target after the switch, so `pgferry rollback` loses nothing",
    )
    .option(
      "--sequence-gap <n>",
      "add this to every sequence copied to the target (default 0)",
      nonNegativeNumber("--sequence-gap"),
    )
    .option(
      "--drain-timeout <seconds>",
      "longest wait for transactions that wrote before the fence (default 30)",
      nonNegativeNumber("--drain-timeout"),
    )
    .option(
      "--switch-timeout <seconds>",
      "longest run of the switch command (default 120)",
      positiveInt("--switch-timeout"),
    )
    .option("--json", "machine-readable result")
    .action(async (flags: CutoverFlags) => {
      const { resolveUrl } = await import("../../db/index.js");
      const source = resolveUrl(flags.source, "source");
      const target = resolveUrl(flags.target, "target");
      const switchCommand = flags.switchCommand ?? process.env["PGFERRY_SWITCH_COMMAND"];
      const { cutover } = await import("../../cutover/index.js");
      const { eventLine } = await import("../render/event-lines.js");
      const emit = stepPrinter(ctx, flags.json, eventLine);
      const mctx: MigrationContext = { source, target, signal: ctx.signal, emit };
      if (!flags.json) ctx.out.line(`Cutover from ${source.display} to ${target.display}`);
      const result = await cutover(mctx, {
        ...(flags.maxLag !== undefined ? { maxLagSeconds: flags.maxLag } : {}),
        ...(switchCommand ? { switchCommand } : {}),
        ...(flags.rollbackWindow ? { rollbackWindow: true } : {}),
        ...(flags.sequenceGap !== undefined ? { sequenceGap: Math.round(flags.sequenceGap) } : {}),
        ...(flags.drainTimeout !== undefined
          ? { drainTimeoutMs: Math.round(flags.drainTimeout * 1000) }
          : {}),
        ...(flags.switchTimeout !== undefined ? { switchTimeoutMs: flags.switchTimeout * 1000 } : {}),
      });
      if (flags.json) ctx.out.json(result);
      else for (const line of summary(result, ctx)) ctx.out.line(line);
      ctx.setExit(0);
    });
}

function summary(r: CutoverResult, ctx: CliContext): string[] {
  const lines = [
    `${paint(ctx.out, "green", "Switched")}: writes were unavailable for ${paint(ctx.out, "bold", `${r.unavailableMs} ms`)} (fence raised ${r.fenceRaisedAt.toISOString()}, switch done ${r.switchedAt.toISOString()}).`,
    `  ${r.finalChanges} change(s) applied behind the fence, ${r.sequencesMoved} sequence(s) set, ${r.objectsBuilt} constraint(s)/trigger(s) created, ${r.matviewsRefreshed} materialized view(s) refreshed${r.largeObjectsCopied ? `, ${r.largeObjectsCopied} large object(s) copied` : ""}.`,
  ];
  if (r.foreignKeys.validated.length)
    lines.push(`  ${r.foreignKeys.validated.length} foreign key(s) validated after the switch.`);
  for (const f of r.foreignKeys.failed)
    lines.push(`  warning: foreign key ${f.name} stays NOT VALID: ${f.error}`);
  lines.push("The source now refuses every write on the migrated tables (SQLSTATE 25006); reads still work.");
  if (!r.switchCommandRan)
    lines.push("No --switch-command was given: point the application at the target now.");
  lines.push(
    r.rollbackWindow
      ? "Next: the target's writes are captured; `pgferry rollback` switches back without losing any (it applies them to the source). When sure, `pgferry cleanup` ends the window."
      : "Next: check the application on the target, then `pgferry cleanup` removes pgferry's triggers and schemas from both databases.",
  );
  return lines;
}
