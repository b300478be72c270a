import { type Command, Option } from "commander";
import { parsePatterns } from "../../catalog/filter.js";
import type { ConnInfo } from "../../db/index.js";
import { isPgferryError, PgferryError } from "../../errors/index.js";
import type { CliContext } from "../context.js";
import { addConnectionOptions, nonNegativeNumber, positiveInt } from "../options.js";

interface CheckFlags {
  source?: string;
  target?: string;
  json?: boolean;
  pgDump?: string;
  tables?: string;
  exclude?: string;
  jobs?: number;
  longTransaction?: number;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("check")
    .description("preflight: report every blocker and warning, each with its fix (changes nothing)");
  addConnectionOptions(cmd)
    .option("--json", "machine-readable report")
    .option("--pg-dump <path>", "the pg_dump to use (default: the first on PATH)")
    .option("--tables <patterns>", "only these tables, comma-separated (public.*, audit.events)")
    .option("--exclude <patterns>", "leave these tables out, comma-separated")
    .option(
      "--jobs <n>",
      "copy workers `pgferry start` will run (default: as start picks them, one per core from 2 to 8, at most half the source's free connections)",
      positiveInt("--jobs"),
    )
    .addOption(
      new Option(
        "--long-transaction <seconds>",
        "report transactions open longer than this (default 60)",
      ).argParser(nonNegativeNumber("--long-transaction")),
    )
    .action(async (flags: CheckFlags) => {
      const { source, target } = await resolveBoth(flags);
      const include = parsePatterns(flags.tables);
      const exclude = parsePatterns(flags.exclude);
      const { runCheck } = await import("../../check/index.js");
      const report = await runCheck({
        source,
        target,
        ...(flags.pgDump ? { pgDump: flags.pgDump } : {}),
        ...(flags.jobs ? { jobs: flags.jobs } : {}),
        ...(include ? { include } : {}),
        ...(exclude ? { exclude } : {}),
        ...(flags.longTransaction !== undefined ? { longTransactionSeconds: flags.longTransaction } : {}),
      });
      // Ctrl-C during the check: a report finished after it would read as a normal run.
      ctx.signal.throwIfAborted();
      if (flags.json) ctx.out.json(report);
      else {
        const { renderCheckReport } = await import("../render/check-report.js");
        for (const line of renderCheckReport(report, ctx.out)) ctx.out.line(line);
      }
      ctx.setExit(report.ok ? 0 : 1);
    });
}

/** Both URLs are validated before anything connects, and every problem with them is reported at once. */
async function resolveBoth(flags: CheckFlags): Promise<{ source: ConnInfo; target: ConnInfo }> {
  const { resolveUrl } = await import("../../db/index.js");
  const problems: PgferryError[] = [];
  const attempt = (side: "source" | "target"): ConnInfo | undefined => {
    try {
      return resolveUrl(side === "source" ? flags.source : flags.target, side);
    } catch (err) {
      if (!isPgferryError(err)) throw err;
      problems.push(err);
      return undefined;
    }
  };
  const source = attempt("source");
  const target = attempt("target");
  if (source && target) return { source, target };
  if (problems.length === 1) throw problems[0];
  const [first, second] = problems as [PgferryError, PgferryError];
  throw new PgferryError(first.code, `${first.message} ${second.message}`, {
    side: "local",
    hint: first.hint === second.hint ? first.hint : `${first.hint} ${second.hint}`,
  });
}
