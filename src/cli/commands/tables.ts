import type { Command } from "commander";
import type { MigrationContext } from "../../context.js";
import type { AddResult, RemoveResult } from "../../tables/index.js";
import type { CliContext } from "../context.js";
import { addConnectionOptions, lockTimeoutSeconds, positiveInt } from "../options.js";

interface TablesFlags {
  source?: string;
  target?: string;
  lockTimeout?: number;
  jobs?: number;
  pgDump?: string;
  json?: boolean;
}

async function context(flags: TablesFlags, ctx: CliContext): Promise<MigrationContext> {
  const { resolveUrl } = await import("../../db/index.js");
  const source = resolveUrl(flags.source, "source");
  const target = resolveUrl(flags.target, "target");
  const { eventLine } = await import("../render/event-lines.js");
  return {
    source,
    target,
    signal: ctx.signal,
    // With --json stdout is the one JSON object: progress goes to stderr.
    emit: (e) => {
      const line = eventLine(e);
      if (line && flags.json) ctx.out.error(line);
      else if (line) ctx.out.line(line);
    },
  };
}

function common(cmd: Command): Command {
  return addConnectionOptions(cmd)
    .option(
      "--lock-timeout <seconds>",
      "longest wait for each table's lock on the source, per try (default 0.2: writers of the table queue behind it)",
      lockTimeoutSeconds("--lock-timeout"),
    )
    .option("--json", "machine-readable result");
}

const lockMs = (f: TablesFlags) =>
  f.lockTimeout !== undefined ? { lockTimeoutMs: Math.round(f.lockTimeout * 1000) } : {};

export function register(program: Command, ctx: CliContext): void {
  const tables = program
    .command("tables")
    .description("add tables to a running migration, or take them out (before the cutover)");
  common(
    tables
      .command("add")
      .argument("<names...>", "schema.table names of source tables")
      .description(
        "bring source tables (created after start, or excluded) into the migration: copied, then streamed",
      ),
  )
    .option("--jobs <n>", "copy workers for the new tables (default 2)", positiveInt("--jobs"))
    .option("--pg-dump <path>", "the pg_dump to read their schema with")
    .action(async (names: string[], flags: TablesFlags) => {
      const { addTables } = await import("../../tables/index.js");
      const result = await addTables(await context(flags, ctx), names, {
        ...lockMs(flags),
        ...(flags.jobs ? { jobs: flags.jobs } : {}),
        ...(flags.pgDump ? { pgDump: flags.pgDump } : {}),
      });
      if (flags.json) ctx.out.json(result);
      else for (const line of addSummary(result)) ctx.out.line(line);
      ctx.setExit(result.copy === "stopped" ? 1 : 0);
    });
  common(
    tables
      .command("remove")
      .argument("<names...>", "schema.table names")
      .description("take tables out of the migration (their copy on the target is left as it is)"),
  ).action(async (names: string[], flags: TablesFlags) => {
    const { removeTables } = await import("../../tables/index.js");
    const result = await removeTables(await context(flags, ctx), names, lockMs(flags));
    if (flags.json) ctx.out.json(result);
    else for (const line of removeSummary(result)) ctx.out.line(line);
    ctx.setExit(0);
  });
  for (const c of tables.commands) c.exitOverride();
}

function addSummary(r: AddResult): string[] {
  const lines = r.added.map((t) => `${t.name}: added to the migration`);
  if (r.copy === "done")
    lines.push(
      "Copied and indexed: the running `pgferry start` streams them from now on (start it if none runs).",
    );
  else if (r.copy === "start") lines.push("`pgferry start` copies them with the rest of the migration.");
  else
    lines.push(
      "Stopped before the copy finished: run the same command again (or `pgferry start`) to finish it.",
    );
  return lines;
}

function removeSummary(r: RemoveResult): string[] {
  const lines = [
    ...r.removed.map((t) => `${t}: removed from the migration; its copy on the target is left as it is`),
    ...r.excluded.map((t) => `${t}: not part of the migration; excluded from now on`),
  ];
  if (r.triggersDropped.length)
    lines.push(`source: capture triggers removed from ${r.triggersDropped.join(", ")}`);
  if (r.changesDeleted) lines.push(`source: ${r.changesDeleted} log row(s) deleted`);
  lines.push(
    "Verify and the cutover no longer look at these tables (they are in the migration's exclude list).",
  );
  return lines;
}
