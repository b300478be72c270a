import type { Command } from "commander";
import type { MigrationContext } from "../../context.js";
import type { CliContext } from "../context.js";
import { logFileOption, openLogFile } from "../log-file.js";
import { addConnectionOptions, nonNegativeNumber, positiveInt } from "../options.js";
import { paint } from "../output.js";
import { stepPrinter } from "./cutover.js";

interface RollbackFlags {
  source?: string;
  target?: string;
  switchCommand?: string;
  appUrl?: string;
  sequenceGap?: number;
  drainTimeout?: number;
  switchTimeout?: number;
  json?: boolean;
  logFile?: string;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("rollback")
    .description(
      "after a cutover with --rollback-window, switch back to the source without losing what was written on the target (or undo an interrupted cutover)",
    );
  addConnectionOptions(cmd)
    .option(
      "--switch-command <cmd>",
      "shell command that points the application back at the source; gets its URL in PGFERRY_APP_URL (or PGFERRY_SWITCH_COMMAND)",
    )
    .option(
      "--app-url <url>",
      "the source URL the application is to use, handed to the switch command as PGFERRY_APP_URL (or PGFERRY_APP_URL; default: the source URL, pgferry's own credential)",
    )
    .option(
      "--sequence-gap <n>",
      "add this to every sequence copied back to the source (default 0)",
      nonNegativeNumber("--sequence-gap"),
    )
    .option(
      "--drain-timeout <seconds>",
      "longest wait for transactions that wrote on the target before its fence (default 30)",
      nonNegativeNumber("--drain-timeout"),
    )
    .option(
      "--switch-timeout <seconds>",
      "longest run of the switch command (default 120)",
      positiveInt("--switch-timeout"),
    )
    .option("--json", "machine-readable result")
    .addOption(logFileOption())
    .action(async (flags: RollbackFlags) => {
      const { resolveUrl } = await import("../../db/index.js");
      const source = resolveUrl(flags.source, "source");
      const target = resolveUrl(flags.target, "target");
      const switchCommand = flags.switchCommand ?? process.env["PGFERRY_SWITCH_COMMAND"];
      const appUrl = flags.appUrl ?? process.env["PGFERRY_APP_URL"];
      const { rollback } = await import("../../cutover/index.js");
      const { eventLine } = await import("../render/event-lines.js");
      const log = openLogFile(flags.logFile, "rollback", process.argv.slice(2));
      ctx.record = log.write;
      const print = stepPrinter(ctx, flags.json, eventLine);
      const mctx: MigrationContext = {
        source,
        target,
        signal: ctx.signal,
        emit: (e) => {
          log.write(e);
          print(e);
        },
      };
      const result = await rollback(mctx, {
        ...(switchCommand ? { switchCommand } : {}),
        ...(appUrl ? { appUrl } : {}),
        ...(flags.sequenceGap !== undefined ? { sequenceGap: Math.round(flags.sequenceGap) } : {}),
        ...(flags.drainTimeout !== undefined
          ? { drainTimeoutMs: Math.round(flags.drainTimeout * 1000) }
          : {}),
        ...(flags.switchTimeout !== undefined ? { switchTimeoutMs: flags.switchTimeout * 1000 } : {}),
      });
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
        if (!switchCommand)
          ctx.out.line("No --switch-command was given: point the application back at the source now.");
        ctx.out.line("Next: `pgferry cleanup` removes pgferry's triggers and schemas from both databases.");
      }
      ctx.setExit(0);
    });
}
