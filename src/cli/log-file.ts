import { appendFileSync } from "node:fs";
import path from "node:path";
import { Option } from "commander";
import type { MigrationContext } from "../context.js";
import { redact } from "../errors/index.js";
import { type PgferryEvent, stampEvent } from "../progress/events.js";
import type { CliContext } from "./context.js";

/** Where the record goes when neither --log-file nor PGFERRY_LOG_FILE says: the current directory. */
export const DEFAULT_LOG_FILE = "pgferry.log";
/** A `progress` event (the whole status) every second would drown the record: one a minute. */
const PROGRESS_EVERY_MS = 60_000;

export function logFileOption(): Option {
  return new Option(
    "--log-file <path>",
    `append this command's events (NDJSON) to this file (or PGFERRY_LOG_FILE; default ./${DEFAULT_LOG_FILE}; - for none)`,
  );
}

/**
 * The record that outlives the migration (issue 13): `start`, `cutover`, `rollback` and
 * `cleanup` append their events, stamped, one JSON object a line, to a file on the machine
 * pgferry runs on; cleanup's final report lands there too, after the control schema is gone.
 * Written synchronously, so a line is in the file before the next step starts, and scrubbed of
 * every password like all output.
 */
export interface LogFile {
  /** Absolute path, or null when disabled (`-`). */
  readonly path: string | null;
  write(e: PgferryEvent): void;
}

export function openLogFile(flag: string | undefined, command: string, argv: readonly string[]): LogFile {
  const given = flag ?? process.env["PGFERRY_LOG_FILE"] ?? DEFAULT_LOG_FILE;
  if (given === "-") return { path: null, write: () => {} };
  const file = path.resolve(given);
  let lastProgress = 0;
  let failed = false;
  const append = (e: PgferryEvent) => {
    if (failed) return;
    try {
      appendFileSync(file, `${redact(JSON.stringify(stampEvent(e)))}\n`, { mode: 0o600 });
    } catch (err) {
      // A record that cannot be written must not stop a cutover half way: say so once, go on.
      failed = true;
      process.stderr.write(
        `warning: cannot write the log file ${file}: ${(err as Error).message} (going on without it)\n`,
      );
    }
  };
  append({
    type: "log",
    level: "info",
    message: `pgferry ${command} started (${[command, ...flagsOnly(argv)].join(" ")}; pid ${process.pid})`,
  });
  return {
    path: file,
    write(e) {
      if (e.type === "progress") {
        if (Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = Date.now();
      }
      append(e);
    },
  };
}

/** The flags given, without their values: values may be URLs or commands holding secrets. */
function flagsOnly(argv: readonly string[]): string[] {
  return argv.filter((a) => a.startsWith("--")).map((a) => a.split("=")[0]!);
}

/**
 * The context of a one-shot command (cutover, rollback, cleanup): every event goes to the log
 * file first, then to `show` (the terminal), so the record holds what the screen showed.
 */
export function loggedContext(
  ctx: CliContext,
  command: string,
  flags: { logFile?: string },
  ends: Pick<MigrationContext, "source" | "target">,
  show: (e: PgferryEvent) => void,
): { mctx: MigrationContext; log: LogFile } {
  const log = openLogFile(flags.logFile, command, process.argv.slice(2));
  ctx.record = log.write;
  const emit = (e: PgferryEvent) => {
    log.write(e);
    show(e);
  };
  return { mctx: { ...ends, signal: ctx.signal, emit }, log };
}
