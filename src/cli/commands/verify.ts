import type { Command } from "commander";
import type { MigrationContext } from "../../context.js";
import type { PgferryEvent } from "../../progress/events.js";
import type { Difference, VerifyReport } from "../../verify/index.js";
import type { CliContext } from "../context.js";
import { addConnectionOptions, positiveInt } from "../options.js";
import { paint } from "../output.js";

interface VerifyFlags {
  source?: string;
  target?: string;
  json?: boolean;
  tables?: string;
  jobs?: number;
  rangeRows?: number;
  maxKeys?: number;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("verify")
    .description("compare every replicated table, source against target (exit 0 identical, 1 differences)");
  addConnectionOptions(cmd)
    .option("--json", "machine-readable report")
    .option("--tables <names>", "only these tables, comma-separated schema.table names")
    .option("--jobs <n>", "tables compared in parallel (default 2)", positiveInt("--jobs"))
    .option("--range-rows <n>", "rows per compared key range (default 10000)", positiveInt("--range-rows"))
    .option("--max-keys <n>", "differing keys listed per table (default 100)", positiveInt("--max-keys"))
    .action(async (flags: VerifyFlags) => {
      const { resolveUrl } = await import("../../db/index.js");
      const source = resolveUrl(flags.source, "source");
      const target = resolveUrl(flags.target, "target");
      const { verify } = await import("../../verify/index.js");
      const { eventLine } = await import("../render/event-lines.js");
      const mctx: MigrationContext = {
        source,
        target,
        signal: ctx.signal,
        // The JSON report is the only thing on stdout with --json; progress goes to stderr.
        emit: (e: PgferryEvent) => {
          if (e.type === "log" || e.type === "stage:start") {
            const line = eventLine(e);
            if (line) ctx.out.error(line);
          }
        },
      };
      const report = await verify(mctx, {
        ...(flags.tables ? { tables: flags.tables.split(",").map((s) => s.trim()) } : {}),
        ...(flags.jobs ? { jobs: flags.jobs } : {}),
        ...(flags.rangeRows ? { rangeRows: flags.rangeRows } : {}),
        ...(flags.maxKeys ? { maxKeys: flags.maxKeys } : {}),
      });
      if (flags.json) ctx.out.json(report);
      else for (const line of renderVerify(report, ctx)) ctx.out.line(line);
      ctx.setExit(report.identical ? 0 : 1);
    });
}

function describe(d: Difference): string {
  switch (d.kind) {
    case "missing":
      return `missing on the target: ${JSON.stringify(d.key)}`;
    case "extra":
      return `extra on the target:   ${JSON.stringify(d.key)}`;
    case "changed":
      return `changed: ${JSON.stringify(d.key)} (${d.columns.join(", ")})`;
    case "missing_table":
      return "the table does not exist on the target";
    case "missing_source_table":
      return "the table is gone from the source (dropped or renamed): drop it on the target, or recreate it on the source";
    case "unmigrated_table":
      return "the table exists on the source but is not migrated (created after prepare): nothing copies or streams it";
    default:
      return `${d.kind.replace("_", " ")} on the target: ${d.name}`;
  }
}

export function renderVerify(r: VerifyReport, ctx: Pick<CliContext, "out">): string[] {
  const lines: string[] = [];
  const back = r.direction === "target-to-source";
  if (back)
    lines.push(
      "Rollback window: the target leads and the source follows through the reverse stream; a row counts as different only once that stream had the chance to bring it back.",
    );
  for (const t of r.tables) {
    // An identical table whose counts differ was counted while the stream applied changes.
    const flowing = t.identical && t.sourceRows !== t.targetRows ? " (counted while changes flowed)" : "";
    const rows =
      t.sourceRows === t.targetRows
        ? `${t.sourceRows} rows`
        : `${t.sourceRows} → ${t.targetRows} rows${flowing}`;
    const mark = t.identical ? paint(ctx.out, "green", "identical") : paint(ctx.out, "red", "DIFFERS");
    lines.push(`${t.name}: ${mark}, ${rows}, ${t.ranges} range${t.ranges === 1 ? "" : "s"}`);
    for (const d of t.differences) lines.push(`  ${describe(d)}`);
    if (t.moreDifferences > 0) lines.push(`  … and ${t.moreDifferences} more differing keys`);
    if (t.notApplied)
      lines.push(
        `  ${t.notApplied.keys} key${t.notApplied.keys === 1 ? "" : "s"} changed on the ${back ? "target not applied to the source" : "source not applied to the target"}: ${t.notApplied.reason}`,
      );
    if (t.inFlight)
      lines.push(
        `  ${t.inFlight} key${t.inFlight === 1 ? "" : "s"} in flight, seen applied by the ${back ? "reverse " : ""}stream`,
      );
    if (t.pendingObjects?.length) lines.push(`  created at cutover: ${t.pendingObjects.join(", ")}`);
  }
  for (const s of r.sequences) {
    if (s.ok) continue;
    const where =
      s.targetNext === null
        ? "missing on the target"
        : `target next ${s.targetNext} < source next ${s.sourceNext}`;
    lines.push(`sequence ${s.name}: ${where}${s.counted ? "" : " (set at cutover)"}`);
  }
  const differing = r.tables.filter((t) => !t.identical).length;
  const badSeq = r.sequences.filter((s) => !s.ok && s.counted).length;
  lines.push(
    r.identical
      ? `${paint(ctx.out, "green", "identical")}: ${r.tables.length} tables in ${r.seconds.toFixed(1)}s`
      : `${paint(ctx.out, "red", "differences")}: ${differing} of ${r.tables.length} tables${badSeq ? `, ${badSeq} sequences behind` : ""}`,
  );
  return lines;
}
