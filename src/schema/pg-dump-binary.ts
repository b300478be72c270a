import { execFile } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { PgferryError } from "../errors/index.js";

const run = promisify(execFile);

export interface PgDumpBinary {
  /** Absolute path of the pg_dump executable. */
  path: string;
  /** Major version (15 for 15.4; 9 for 9.6.x, which is older than every supported source anyway). */
  major: number;
  /** The version as pg_dump prints it, e.g. "15.4". */
  version: string;
}

export interface LocateOptions {
  /** The source's major version, when known: named in the hint of a PG_DUMP_MISSING error. */
  serverMajor?: number;
}

/**
 * Finds pg_dump: the explicit path (--pg-dump) when given, else the first `pg_dump` on PATH.
 * Throws PG_DUMP_MISSING (with the version to install) when there is none or it cannot run.
 */
export async function locatePgDump(explicit?: string, opts: LocateOptions = {}): Promise<PgDumpBinary> {
  const candidate = explicit ? path.resolve(explicit) : findOnPath("pg_dump");
  if (!candidate || !isExecutable(candidate)) {
    const what = explicit
      ? `The pg_dump given with --pg-dump (${explicit}) is not an executable file.`
      : "pg_dump was not found on PATH.";
    throw new PgferryError("PG_DUMP_MISSING", what, { side: "local", hint: installHint(opts.serverMajor) });
  }
  let stdout: string;
  try {
    ({ stdout } = await run(candidate, ["--version"], { timeout: 15_000 }));
  } catch (cause) {
    throw new PgferryError(
      "PG_DUMP_MISSING",
      `${candidate} --version failed; it does not look like pg_dump.`,
      {
        side: "local",
        hint: installHint(opts.serverMajor),
        cause,
      },
    );
  }
  const parsed = parsePgDumpVersion(stdout);
  if (!parsed) {
    throw new PgferryError(
      "PG_DUMP_MISSING",
      `${candidate} is not pg_dump (it printed "${stdout.trim()}").`,
      {
        side: "local",
        hint: installHint(opts.serverMajor),
      },
    );
  }
  return { path: candidate, ...parsed };
}

/** pg_dump can dump a server of its own major version or older, never a newer one. */
export function pgDumpSupports(dumpMajor: number, serverMajor: number): boolean {
  return dumpMajor >= serverMajor;
}

/** Locates pg_dump and throws PG_DUMP_MISSING unless it can dump a server of `serverMajor`. */
export async function requirePgDump(
  explicit: string | undefined,
  serverMajor: number,
): Promise<PgDumpBinary> {
  const found = await locatePgDump(explicit, { serverMajor });
  if (!pgDumpSupports(found.major, serverMajor)) {
    throw new PgferryError(
      "PG_DUMP_MISSING",
      `pg_dump ${found.version} (${found.path}) cannot dump a PostgreSQL ${serverMajor} server.`,
      { side: "local", hint: installHint(serverMajor) },
    );
  }
  return found;
}

/** The fix for a missing or too old pg_dump, naming the version to install when it is known. */
export function installHint(serverMajor?: number): string {
  const version = serverMajor ? `${serverMajor} or newer` : "of the source's major version or newer";
  const pkg = serverMajor
    ? ` (e.g. apt install postgresql-client-${serverMajor}, brew install postgresql@${serverMajor})`
    : "";
  return `Install the PostgreSQL client tools ${version}${pkg}, then put pg_dump on PATH or pass --pg-dump PATH.`;
}

/** Parses `pg_dump (PostgreSQL) 15.4 (Debian 15.4-1)` or `pg_dump (PostgreSQL) 9.6.24`. */
export function parsePgDumpVersion(text: string): { major: number; version: string } | undefined {
  const m = /^pg_dump \(PostgreSQL\) (\d+)(?:\.(\d+))?(?:\.(\d+))?(\S*)/m.exec(text.trim());
  if (!m) return undefined;
  const first = Number(m[1]);
  const version = m[0].replace(/^pg_dump \(PostgreSQL\) /, "");
  return { major: first, version };
}

/** The first executable `name` on PATH (pg_dump here; the cutover's switch command too). */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env["PATH"] ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const full = path.join(dir, name);
    if (isExecutable(full)) return full;
  }
  return undefined;
}

export function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
