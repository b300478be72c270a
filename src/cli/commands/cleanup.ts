import type { Command } from "commander";
import type { CleanupReport, SideCleanup } from "../../cleanup/index.js";
import type { MigrationContext } from "../../context.js";
import type { CliContext } from "../context.js";
import { addConnectionOptions, lockTimeoutSeconds, positiveInt } from "../options.js";

interface CleanupFlags {
  source?: string;
  target?: string;
  force?: boolean;
  skipSource?: boolean;
  lockTimeout?: number;
  attempts?: number;
  json?: boolean;
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
    .action(async (flags: CleanupFlags) => {
      const { resolveUrl } = await import("../../db/index.js");
      const target = resolveUrl(flags.target, "target");
      // With --skip-source the source is never connected to, so its URL may be absent.
      const sourceGiven = flags.source ?? process.env["PGFERRY_SOURCE_URL"];
      const source = flags.skipSource && !sourceGiven ? target : resolveUrl(flags.source, "source");
      const { cleanup } = await import("../../cleanup/index.js");
      const { eventLine } = await import("../render/event-lines.js");
      const mctx: MigrationContext = {
        source,
        target,
        signal: ctx.signal,
        emit: (e) => {
          if (flags.json) return;
          const line = eventLine(e);
          if (line) ctx.out.line(line);
        },
      };
      const report = await cleanup(mctx, {
        ...(flags.force ? { force: true } : {}),
        ...(flags.skipSource ? { skipSource: true } : {}),
        ...(flags.lockTimeout !== undefined ? { lockTimeoutMs: Math.round(flags.lockTimeout * 1000) } : {}),
        ...(flags.attempts ? { attempts: flags.attempts } : {}),
      });
      if (flags.json) ctx.out.json(report);
      else for (const line of summary(report)) ctx.out.line(line);
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
