import { Command, CommanderError } from "commander";
import { isPgferryError } from "../errors/index.js";
import { register as check } from "./commands/check.js";
import { register as cleanup } from "./commands/cleanup.js";
import { register as cutover } from "./commands/cutover.js";
import { register as demo } from "./commands/demo.js";
import { register as rollback } from "./commands/rollback.js";
import { register as start } from "./commands/start.js";
import { register as status } from "./commands/status.js";
import { register as tables } from "./commands/tables.js";
import { register as verify } from "./commands/verify.js";
import type { CliContext } from "./context.js";
import { interrupted, reportError, toPgferryError } from "./errors.js";
import { makeOutput } from "./output.js";
import { packageVersion } from "./version.js";
import { keepYoungGenerationSmall } from "./young-generation.js";

/** Runs the CLI and returns the exit status; never throws. */
export async function main(argv: string[]): Promise<number> {
  keepYoungGenerationSmall();
  const out = makeOutput();
  const controller = new AbortController();
  let exitCode = 0;
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      ctx.notice("Stopping at the next safe point (Ctrl-C again to stop at once)…");
      controller.abort(new Error("interrupted"));
    } else {
      process.exit(130);
    }
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);

  const ctx: CliContext = {
    out,
    setExit: (code) => {
      exitCode = code;
    },
    signal: controller.signal,
    debug: () => Boolean(program.opts()["debug"]),
    notice: (text) => out.error(text),
    record: () => {},
  };
  const program = buildProgram(ctx);

  try {
    // Bare `pgferry` asks what it can do: help, and no error.
    if (argv.length <= 2) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError && (err.exitCode === 0 || err.code === "commander.helpDisplayed"))
      return 0;
    if (err instanceof CommanderError && err.code === "commander.version") return 0;
    // Stopped by Ctrl-C: whatever the stage threw on its way out, say that, and in what state.
    const stopped =
      controller.signal.aborted &&
      !(err instanceof CommanderError) &&
      !(isPgferryError(err) && err.code === "INTERRUPTED");
    const command = argv.slice(2).find((a) => program.commands.some((c) => c.name() === a));
    const e = toPgferryError(stopped ? interrupted(command, err) : err);
    ctx.record({ type: "log", level: "error", message: `${e.code}: ${e.message}` });
    exitCode = reportError(e, out, argv.includes("--debug"));
  } finally {
    ctx.record({ type: "log", level: "info", message: `exit status ${exitCode}` });
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
  return exitCode;
}

/** The command tree with every command and flag (its actions load their work lazily). */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command();
  program
    .name("pgferry")
    .description("Move a live PostgreSQL database to another server with near-zero downtime.")
    .version(packageVersion(), "-V, --version", "print pgferry's version")
    .option("--debug", "show stack traces and driver details on errors")
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      // Commander's own error text is replaced by our one-line error + hint below.
      writeErr: (s) => {
        if (!/^error:/.test(s)) process.stderr.write(s);
      },
    });
  for (const register of [check, start, status, verify, tables, cutover, rollback, cleanup, demo])
    register(program, ctx);
  for (const c of program.commands) c.exitOverride();
  return program;
}
