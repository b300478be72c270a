import { CommanderError } from "commander";
import { driverFields, fromDriverError, isTransient, sqlState } from "../db/index.js";
import { ERROR_CODES, isPgferryError, PgferryError, redact, userCodeError } from "../errors/index.js";
import { type Output, paint } from "./output.js";

/** The one error boundary: prints one line and a hint (a stack only with --debug), returns the exit status. */
export function reportError(err: unknown, out: Output, debug: boolean): number {
  const e = toPgferryError(err);
  const side = e.side && e.side !== "local" ? ` (${e.side})` : "";
  out.error(`${paint(out, "red", "error")} ${e.code}${side}: ${e.message}`);
  out.error(`  ${paint(out, "dim", "hint:")} ${e.hint}`);
  if (debug) {
    const cause = e.cause instanceof Error ? e.cause : undefined;
    out.error(redact(e.stack ?? ""));
    if (cause) out.error(`caused by: ${redact(cause.stack ?? cause.message)}`);
  }
  return e.exitCode;
}

export function toPgferryError(err: unknown): PgferryError {
  if (isPgferryError(err)) return err;
  if (err instanceof CommanderError) {
    const message = err.message.replace(/^error: /, "").replace(/\n[\s\S]*$/, "");
    return new PgferryError(
      "USAGE",
      `${message.charAt(0).toUpperCase()}${message.slice(1)}.`.replace(/\.\.$/, "."),
      {
        side: "local",
      },
    );
  }
  const theirs = userCodeError(err);
  if (theirs) return theirs;
  // A server's error no stage mapped: the one driver-error rule names it (ROW_SECURITY,
  // PERMISSION_DENIED, LOCK_TIMEOUT, CONNECTION_LOST), the side unknown here.
  if (sqlState(err) !== undefined || isTransient(err)) return fromDriverError(err, { side: undefined });
  return new PgferryError("INTERNAL", redact(driverFields(err).message ?? String(err)), {
    side: "local",
    cause: err,
  });
}

/** What Ctrl-C leaves behind, per command: every one of them stops where a rerun picks up. */
const LEFT_AS: Record<string, string> = {
  check: "Nothing was changed.",
  status: "Nothing was changed.",
  verify: "Nothing was changed; the comparison was not finished.",
  // Within their steps, cutover and rollback say exactly what they undid (common.ts); these
  // are for an interrupt before the first step or after the last.
  cutover:
    "`pgferry status` shows where the cutover stands: `pgferry cutover` finishes it, `pgferry rollback` undoes it.",
  rollback:
    "`pgferry status` shows where the rollback stands and both fences: run `pgferry rollback` again to finish it.",
  cleanup:
    "Cleanup stopped between tables: what it removed is gone, the rest is intact; run it again to finish.",
  tables: "The change stopped between steps; run the same `pgferry tables` command again to finish it.",
  demo: "The demo's servers are stopped and removed.",
};

/** The error a command stopped by Ctrl-C reports (exit 130), never INTERNAL. */
export function interrupted(command: string | undefined, cause: unknown): PgferryError {
  const what = command ? `pgferry ${command}` : "pgferry";
  const state = (command && LEFT_AS[command]) ?? "Run it again to resume.";
  return new PgferryError("INTERRUPTED", `${what} was interrupted. ${state}`, { side: "local", cause });
}

export function exitCodeOf(code: keyof typeof ERROR_CODES): number {
  return ERROR_CODES[code].exit;
}
