import type { Command } from "commander";
import { logFileOption } from "./log-file.js";
import { nonNegativeNumber, positiveInt } from "./options.js";

/**
 * What `cutover` and `rollback` share: both fence one side, drain it, move sequences and run a
 * switch command, so their tuning flags mean the same and map to the library's options once.
 */
export interface SwitchFlags {
  switchCommand?: string;
  appUrl?: string;
  sequenceGap?: number;
  drainTimeout?: number;
  switchTimeout?: number;
  json?: boolean;
  logFile?: string;
}

/** --sequence-gap, --drain-timeout, --switch-timeout, --json, --log-file; `toSide` names the side switched to. */
export function addSwitchTuning(cmd: Command, toSide: { sequences: string; drain: string }): Command {
  return cmd
    .option(
      "--sequence-gap <n>",
      `add this to every sequence copied ${toSide.sequences} (default 0)`,
      nonNegativeNumber("--sequence-gap"),
    )
    .option(
      "--drain-timeout <seconds>",
      `longest wait for transactions that wrote ${toSide.drain} (default 30)`,
      nonNegativeNumber("--drain-timeout"),
    )
    .option(
      "--switch-timeout <seconds>",
      "longest run of the switch command (default 120)",
      positiveInt("--switch-timeout"),
    )
    .option("--json", "machine-readable result")
    .addOption(logFileOption());
}

/** The flags (and their environment variables) as the library's switch options. */
export function switchOptions(flags: SwitchFlags): {
  switchCommand?: string;
  appUrl?: string;
  sequenceGap?: number;
  drainTimeoutMs?: number;
  switchTimeoutMs?: number;
} {
  const switchCommand = flags.switchCommand ?? process.env["PGFERRY_SWITCH_COMMAND"];
  const appUrl = flags.appUrl ?? process.env["PGFERRY_APP_URL"];
  return {
    ...(switchCommand ? { switchCommand } : {}),
    ...(appUrl ? { appUrl } : {}),
    ...(flags.sequenceGap !== undefined ? { sequenceGap: Math.round(flags.sequenceGap) } : {}),
    ...(flags.drainTimeout !== undefined ? { drainTimeoutMs: Math.round(flags.drainTimeout * 1000) } : {}),
    ...(flags.switchTimeout !== undefined ? { switchTimeoutMs: flags.switchTimeout * 1000 } : {}),
  };
}
