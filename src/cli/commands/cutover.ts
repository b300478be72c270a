import type { Command } from "commander";
import type { CutoverDryRunResult, CutoverResult } from "../../cutover/index.js";
import type { CliContext } from "../context.js";
import { loggedContext } from "../log-file.js";
import { addConnectionOptions, nonNegativeNumber } from "../options.js";
import { paint } from "../output.js";
import { stepPrinter } from "../render/step-lines.js";
import { addSwitchTuning, type SwitchFlags, switchOptions } from "../switch-options.js";

interface CutoverFlags extends SwitchFlags {
  source?: string;
  target?: string;
  maxLag?: number;
  manualSwitch?: boolean;
  dryRun?: boolean;
  rollbackWindow?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("cutover")
    .description(
      "fence writes on the source, drain, apply the last changes, sequences, constraints, verify, run the switch command",
    );
  const withFlags = addConnectionOptions(cmd)
    .option(
      "--max-lag <seconds>",
      "refuse to start when the target is further behind (default 10)",
      nonNegativeNumber("--max-lag"),
    )
    .option(
      "--switch-command <cmd>",
      "shell command that points the application at the target; gets PGFERRY_APP_URL in its environment (or PGFERRY_SWITCH_COMMAND); this or --manual-switch is required",
    )
    .option(
      "--manual-switch",
      "no switch command: you repoint the application by hand, while the source refuses its writes",
    )
    .option(
      "--app-url <url>",
      "the URL the application is to use, handed to the switch command as PGFERRY_APP_URL (or PGFERRY_APP_URL; default: the target URL, pgferry's own credential)",
    )
    .option(
      "--dry-run",
      "run every step that neither fences nor switches, print what the cutover would do and an estimate of the write window; change nothing",
    )
    .option(
      "--rollback-window",
      "capture on the target after the switch, so `pgferry rollback` loses nothing",
    );
  addSwitchTuning(withFlags, { sequences: "to the target", drain: "before the fence" }).action(
    async (flags: CutoverFlags) => {
      const { resolveUrl } = await import("../../db/index.js");
      const source = resolveUrl(flags.source, "source");
      const target = resolveUrl(flags.target, "target");
      const { cutover } = await import("../../cutover/index.js");
      const { eventLine } = await import("../render/event-lines.js");
      const show = stepPrinter(ctx, flags.json, eventLine);
      const { mctx, log } = loggedContext(ctx, "cutover", flags, { source, target }, show);
      const options = {
        ...switchOptions(flags),
        ...(flags.maxLag !== undefined ? { maxLagSeconds: flags.maxLag } : {}),
        ...(flags.manualSwitch ? { manualSwitch: true } : {}),
        ...(flags.rollbackWindow ? { rollbackWindow: true } : {}),
      };
      if (flags.dryRun) {
        if (!flags.json)
          ctx.out.line(
            `Cutover dry run from ${source.display} to ${target.display}: nothing is fenced or switched`,
          );
        const plan = await cutover(mctx, { ...options, dryRun: true });
        if (flags.json) ctx.out.json(plan);
        else for (const line of dryRunSummary(plan, ctx)) ctx.out.line(line);
        ctx.setExit(0);
        return;
      }
      if (!flags.json)
        ctx.out.line(
          `Cutover from ${source.display} to ${target.display}${log.path ? ` (events appended to ${log.path})` : ""}`,
        );
      const result = await cutover(mctx, options);
      if (flags.json) ctx.out.json(result);
      else for (const line of summary(result, ctx)) ctx.out.line(line);
      ctx.setExit(0);
    },
  );
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
  if (r.manualSwitch) {
    // The window is still open: it ends when the operator has repointed the application.
    const refused = ((Date.now() - r.fenceRaisedAt.getTime()) / 1000).toFixed(1);
    lines.push(
      `${paint(ctx.out, "yellow", "--manual-switch")}: writes on the source have been refused for ${refused} s so far (since ${r.fenceRaisedAt.toISOString()}), and stay refused until the application uses the target. Point it at the target now (with its own role, not pgferry's), then restart or reload it.`,
    );
  }
  lines.push(
    r.rollbackWindow
      ? "Next: the target's writes are captured; `pgferry rollback` switches back without losing any (it applies them to the source). When sure, `pgferry cleanup` ends the window."
      : "Next: check the application on the target, then `pgferry cleanup` removes pgferry's triggers and schemas from both databases.",
  );
  return lines;
}

function dryRunSummary(p: CutoverDryRunResult, ctx: CliContext): string[] {
  const kinds = Object.entries(p.objectKinds)
    .map(([k, n]) => `${n} ${k.replace(/_/g, " ")}`)
    .join(", ");
  const lines = [
    `${paint(ctx.out, "green", "Dry run")}: nothing was fenced, switched or recorded; the source stays writable.`,
    `  The cutover would: ${p.wouldRun.join(" → ")}.`,
    `  Behind the fence: set ${p.sequencesToMove} sequence(s), create ${p.objectsToBuild} constraint(s)/trigger(s)${kinds ? ` (${kinds})` : ""}, refresh ${p.matviewsToRefresh} materialized view(s)${p.rollbackWindow ? ", install capture on the target for the rollback window" : ""}.`,
    p.verify.identical
      ? "  Quick verify: identical."
      : `  Quick verify: ${p.verify.differing.length} table(s) differ now (${p.verify.differing.slice(0, 5).join(", ")}): with writes still going on this may be changes not yet applied; the real cutover checks behind the fence.`,
    p.switchPlan.kind === "command"
      ? `  Switch: the switch command runs with PGFERRY_APP_URL=${p.switchPlan.appUrl} (it was resolved, not run).`
      : "  Switch: manual (--manual-switch): writes stay refused until you repoint the application.",
    `${paint(ctx.out, "bold", `Estimated write window: ~${p.estimate.windowMs} ms`)} (${p.estimate.parts.map((x) => `${x.step} ${x.ms} ms${x.from === "measured" ? "" : `, ${x.from.replace("-", " ")}`}`).join("; ")}).`,
  ];
  if (p.estimate.notIncluded.length) lines.push(`  Not included: ${p.estimate.notIncluded.join("; ")}.`);
  lines.push("Next: `pgferry cutover` with the same flags (without --dry-run) cuts over.");
  return lines;
}
