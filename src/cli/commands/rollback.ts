import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { loggedContext } from "../log-file.js";
import { addConnectionOptions } from "../options.js";
import { paint } from "../output.js";
import { stepPrinter } from "../render/step-lines.js";
import { addSwitchTuning, type SwitchFlags, switchOptions } from "../switch-options.js";

interface RollbackFlags extends SwitchFlags {
  source?: string;
  target?: string;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("rollback")
    .description(
      "after a cutover with --rollback-window, switch back to the source without losing what was written on the target (or undo an interrupted cutover)",
    );
  const withFlags = addConnectionOptions(cmd)
    .option(
      "--switch-command <cmd>",
      "shell command that points the application back at the source; gets its URL in PGFERRY_APP_URL (or PGFERRY_SWITCH_COMMAND)",
    )
    .option(
      "--app-url <url>",
      "the source URL the application is to use, handed to the switch command as PGFERRY_APP_URL (or PGFERRY_APP_URL; default: the source URL, pgferry's own credential)",
    );
  addSwitchTuning(withFlags, {
    sequences: "back to the source",
    drain: "on the target before its fence",
  }).action(async (flags: RollbackFlags) => {
    const { resolveUrl } = await import("../../db/index.js");
    const source = resolveUrl(flags.source, "source");
    const target = resolveUrl(flags.target, "target");
    const { rollback } = await import("../../cutover/index.js");
    const { eventLine } = await import("../render/event-lines.js");
    const show = stepPrinter(ctx, flags.json, eventLine);
    const { mctx } = loggedContext(ctx, "rollback", flags, { source, target }, show);
    const options = switchOptions(flags);
    const result = await rollback(mctx, options);
    if (flags.json) ctx.out.json(result);
    else if (result.kind === "cutover-undone") {
      ctx.out.line(
        "The interrupted cutover was undone: the source is writable again and nothing was switched.",
      );
      ctx.out.line("Run `pgferry start` to stream again, then `pgferry cutover` when ready.");
    } else {
      ctx.out.line(
        `${paint(ctx.out, "green", "Rolled back")}: the source is live again; ${result.changesBack} change(s) written on the target during the rollback window were brought back to it; writes were unavailable for ${paint(ctx.out, "bold", `${result.unavailableMs} ms`)}.`,
      );
      ctx.out.line("The target now refuses writes on the migrated tables (SQLSTATE 25006).");
      if (!options.switchCommand)
        ctx.out.line("No --switch-command was given: point the application back at the source now.");
      ctx.out.line("Next: `pgferry cleanup` removes pgferry's triggers and schemas from both databases.");
    }
    ctx.setExit(0);
  });
}
