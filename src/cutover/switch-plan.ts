import { spawnSync } from "node:child_process";
import path from "node:path";
import { type ConnInfo, parseConnUrl } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import type { EventSink } from "../progress/events.js";
import { findOnPath, isExecutable } from "../schema/pg-dump-binary.js";

/**
 * How the application moves at the switch: a command pgferry runs, or the operator by hand.
 * One of the two is required: a fence with nobody to move the application refuses its writes
 * until someone notices.
 */
export interface SwitchPlan {
  switchCommand?: string | undefined;
  manualSwitch?: boolean | undefined;
}

/** Refuses (exit 2, before any connection) a cutover or rollback that has no way to move the app. */
export function assertSwitchPlan(plan: SwitchPlan, operation: "cutover" | "rollback"): void {
  const back = operation === "rollback" ? " back" : "";
  if (plan.switchCommand && plan.manualSwitch) {
    throw new PgferryError("BAD_OPTION", "--switch-command and --manual-switch exclude each other.", {
      side: "local",
      hint: "Give the switch command, or --manual-switch if you will repoint the application by hand.",
    });
  }
  if (!plan.switchCommand && !plan.manualSwitch) {
    throw new PgferryError(
      "NO_SWITCH_PLAN",
      `No switch plan: without --switch-command (or PGFERRY_SWITCH_COMMAND) nothing points the application${back} when the fence goes up, and its writes would be refused until someone does.`,
      { side: "local" },
    );
  }
  if (plan.switchCommand) resolveSwitchCommand(plan.switchCommand);
}

/** Builtins and keywords of a POSIX shell: a command starting with one needs no file. */
const SHELL_WORDS = new Set(
  (
    ": . [ alias bg break cd command continue echo eval exec exit export false fc fg getopts hash " +
    "jobs kill local printf pwd read readonly return set shift source test times trap true type " +
    "ulimit umask unalias unset wait if then else elif fi for while until do done case esac in function"
  ).split(" "),
);

/**
 * The command's first word, as the shell would run it: leading subshell/group openers,
 * negation and variable assignments skipped, simple quotes removed. Undefined when it cannot
 * be known without running the shell (an expansion).
 */
export function firstWord(command: string): string | undefined {
  let rest = command.trimStart();
  for (;;) {
    const opener = /^(?:[({!]\s*)/.exec(rest);
    if (opener) {
      rest = rest.slice(opener[0].length).trimStart();
      continue;
    }
    const assignment = /^[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|"[^"$`\\]*"|[^\s'"$`\\;&|()]*)\s+/.exec(rest);
    if (assignment) {
      rest = rest.slice(assignment[0].length);
      continue;
    }
    break;
  }
  const word = /^(?:'([^']*)'|"([^"$`\\]*)"|([^\s'"$`\\;&|()<>]+))(?=[\s;&|()<>]|$)/.exec(rest);
  if (!word) return undefined;
  return word[1] ?? word[2] ?? word[3];
}

function notRunnable(why: string): PgferryError {
  return new PgferryError("SWITCH_COMMAND_INVALID", `The switch command cannot run: ${why}.`, {
    side: "local",
  });
}

/**
 * What can be known about the switch command without running it, checked before the fence
 * (a typo found after it costs refused writes): its shell syntax, and that its first word is
 * a builtin, an executable file, or a name on PATH.
 */
export function resolveSwitchCommand(command: string): void {
  const syntax = spawnSync("/bin/sh", ["-n", "-c", command], { encoding: "utf8", timeout: 10_000 });
  if (syntax.error === undefined && syntax.status !== 0) {
    throw notRunnable(`the shell rejects its syntax (${(syntax.stderr ?? "").trim()})`);
  }
  const word = firstWord(command);
  if (word === undefined || SHELL_WORDS.has(word)) return;
  if (word.includes("/")) {
    if (!isExecutable(path.resolve(word))) {
      throw notRunnable(`${word} is not an executable file`);
    }
    return;
  }
  if (!findOnPath(word)) throw notRunnable(`${word} is neither a shell builtin nor on PATH`);
}

/**
 * Everything about the switch that can be checked before connecting: a plan exists, the
 * command can run, the app URL parses. Warns when the app would get pgferry's own credential,
 * and, for a manual switch, says before anything is fenced what it will cost.
 */
export function prepareSwitch(
  plan: SwitchPlan & { appUrl?: string | undefined },
  opts: { operation: "cutover" | "rollback"; to: ConnInfo; emit: EventSink; required?: boolean },
): { url: string; display: string } | undefined {
  if (opts.required !== false) assertSwitchPlan(plan, opts.operation);
  else if (plan.switchCommand) resolveSwitchCommand(plan.switchCommand);
  const app = plan.appUrl
    ? { url: plan.appUrl, display: parseConnUrl(plan.appUrl, "local").display }
    : undefined;
  const side = opts.operation === "cutover" ? "target" : "source";
  if (plan.switchCommand && !app) {
    opts.emit({
      type: "log",
      level: "warn",
      message: `no --app-url: the switch command gets pgferry's own ${side} URL as PGFERRY_APP_URL (${opts.to.display}), the owner's credential; give the application its own role with --app-url`,
    });
  }
  if (plan.manualSwitch) {
    const fenced = opts.operation === "cutover" ? "source" : "target";
    opts.emit({
      type: "log",
      level: "warn",
      message: `--manual-switch: from the fence on, the ${fenced} refuses every write on the migrated tables until you point the application at the ${side} (${opts.to.display}); pgferry says when`,
    });
  }
  return app;
}
