import { type Command, InvalidArgumentError, Option } from "commander";
import { PgferryError } from "../errors/index.js";

export interface ConnectionFlags {
  source?: string;
  target?: string;
}

export interface GlobalFlags {
  debug?: boolean;
  json?: boolean;
}

/** --source / --target, falling back to PGFERRY_SOURCE_URL / PGFERRY_TARGET_URL. */
export function addConnectionOptions(
  cmd: Command,
  sides: ("source" | "target")[] = ["source", "target"],
): Command {
  if (sides.includes("source")) cmd.option("--source <url>", "source database URL (or PGFERRY_SOURCE_URL)");
  if (sides.includes("target")) cmd.option("--target <url>", "target database URL (or PGFERRY_TARGET_URL)");
  return cmd;
}

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a whole number of at least 1.`);
    return n;
  };
}

export function nonNegativeNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a number of at least 0.`);
    return n;
  };
}

/** The longest lock wait pgferry accepts on the source: writers queue behind a waiting lock request. */
export const MAX_LOCK_TIMEOUT_SECONDS = 60;

/**
 * A --lock-timeout in seconds. PostgreSQL's lock_timeout = 0 means "wait forever", which would
 * queue the application's writers behind pgferry's DDL for as long as any transaction holds
 * the table: so at least 1 ms (what reaches the server, in whole ms), at most a minute.
 */
export function lockTimeoutSeconds(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || Math.round(n * 1000) < 1 || n > MAX_LOCK_TIMEOUT_SECONDS)
      throw new InvalidArgumentError(
        `${name} must be between 0.001 and ${MAX_LOCK_TIMEOUT_SECONDS} seconds (0 would make PostgreSQL wait forever, queueing the application's writes behind pgferry).`,
      );
    return n;
  };
}

export function jsonOption(): Option {
  return new Option("--json", "machine-readable output");
}

export function badOption(message: string, hint?: string): PgferryError {
  return new PgferryError("BAD_OPTION", message, { side: "local", ...(hint ? { hint } : {}) });
}
