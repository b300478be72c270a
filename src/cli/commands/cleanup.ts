import type { Command } from "commander";
import type { CleanupReport, FinalReport, SideCleanup } from "../../cleanup/index.js";
import type { CliContext } from "../context.js";
import { logFileOption, loggedContext } from "../log-file.js";
import { addConnectionOptions, lockTimeoutSeconds, positiveInt } from "../options.js";
import { formatBytes, formatCount, formatDuration } from "../render/format.js";

interface CleanupFlags {
  source?: string;
  target?: string;
  force?: boolean;
  skipSource?: boolean;
  lockTimeout?: number;
  attempts?: number;
  json?: boolean;
  logFile?: string;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("cleanup")
    .description(
      "remove every trigger, function and schema pgferry created, on both sides (safe to run twice)",
    );
  addConnectionOptions(cmd)
    .option("--force", "also clean a migration that is still copying or streaming (abandons it)")
    .option("--skip-source", "leave the source alone (for example when it is already decommissioned)")
    .option(
      "--lock-timeout <seconds>",
      "longest wait for each table's lock, per try (default 0.2: writers of the table queue behind it)",
      lockTimeoutSeconds("--lock-timeout"),
    )
    .option("--attempts <n>", "tries per table before giving up (default 10)", positiveInt("--attempts"))
    .option("--json", "machine-readable report")
    .addOption(logFileOption())
    .action(async (flags: CleanupFlags) => {
      const { resolveUrl } = await import("../../db/index.js");
      const target = resolveUrl(flags.target, "target");
      // With --skip-source the source is never connected to, so its URL may be absent.
      const sourceGiven = flags.source ?? process.env["PGFERRY_SOURCE_URL"];
      const source = flags.skipSource && !sourceGiven ? target : resolveUrl(flags.source, "source");
      const { cleanup } = await import("../../cleanup/index.js");
      const { eventLine } = await import("../render/event-lines.js");
      const { mctx, log } = loggedContext(ctx, "cleanup", flags, { source, target }, (e) => {
        if (flags.json) return;
        const line = eventLine(e);
        if (line) ctx.out.line(line);
      });
      const report = await cleanup(mctx, {
        ...(flags.force ? { force: true } : {}),
        ...(flags.skipSource ? { skipSource: true } : {}),
        ...(flags.lockTimeout !== undefined ? { lockTimeoutMs: Math.round(flags.lockTimeout * 1000) } : {}),
        ...(flags.attempts ? { attempts: flags.attempts } : {}),
      });
      if (flags.json) ctx.out.json(report);
      else {
        if (report.final) for (const line of finalLines(report.final)) ctx.out.line(line);
        for (const line of summary(report)) ctx.out.line(line);
        if (log.path && report.final) ctx.out.line(`This report is kept in ${log.path}.`);
      }
      ctx.setExit(0);
    });
}

function side(name: string, s: SideCleanup): string {
  if (s.skipped) return `${name}: skipped`;
  const parts = [
    s.relations.length ? `triggers removed from ${s.relations.length} tables` : "no pgferry triggers",
    s.schemaDropped ? "schema pgferry dropped" : "no schema pgferry",
  ];
  return `${name}: ${parts.join(", ")}`;
}

/** The migration's record, as it stood before its control schema was dropped. */
function finalLines(f: FinalReport): string[] {
  const d = (s: number | null) => (s === null ? "—" : formatDuration(s));
  const lines = [
    `Final report (phase ${f.phase}, source ${f.source}):`,
    ...f.phases.filter((p) => p.at).map((p) => `  ${p.at}  ${p.name}`),
    `  prepare ${d(f.durations.prepare)}, copy and indexes ${d(f.durations.copyAndIndex)}, streaming until the switch ${d(f.durations.streamToSwitch)}`,
    `  ${f.tables} table(s), ${formatCount(f.rows)} rows (${formatBytes(f.bytes)}) copied, ${formatCount(f.changesApplied)} change(s) streamed${f.changesBroughtBack ? `, ${formatCount(f.changesBroughtBack)} brought back in the rollback window` : ""}`,
  ];
  if (f.writeWindowMs !== null)
    lines.push(`  writes were unavailable for ${f.writeWindowMs} ms at the cutover`);
  if (f.rollbackWriteWindowMs !== null)
    lines.push(`  writes were unavailable for ${f.rollbackWriteWindowMs} ms at the rollback`);
  lines.push(`  lost writes: ${f.lostWrites === null ? "unknown" : f.lostWrites} (${f.lostWritesBasis})`);
  return lines;
}

function summary(r: CleanupReport): string[] {
  const lines = [side("source", r.source), side("target", r.target)];
  if (r.phaseBefore === "switched" || r.phaseBefore === "rolled-back") {
    lines.push("Done: nothing of pgferry is left on either database.");
  } else if (r.phaseBefore === null) {
    lines.push("Done: there was no migration on the target; leftover pgferry objects (if any) are gone.");
  } else {
    lines.push(
      `Done: the migration (phase ${r.phaseBefore}) was abandoned and everything pgferry created removed.`,
    );
  }
  return lines;
}
