import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { PgferryError } from "../errors/index.js";

/** A PostgreSQL installation already on this machine (--servers). */
export interface Installation {
  /** The directory holding bin/postgres. */
  readonly root: string;
  readonly major: number;
}

const exe = process.platform === "win32" ? "postgres.exe" : "postgres";

/**
 * The installation at `dir`: its root (holding bin/), its bin/ itself, or a directory of
 * installations named by major, as Debian's /usr/lib/postgresql (then `major` picks one).
 */
export function findInstallation(dir: string, major?: number): Installation {
  const abs = path.resolve(dir);
  const candidates = [
    abs,
    path.dirname(abs),
    ...(major === undefined ? [] : [path.join(abs, String(major))]),
  ];
  const root = candidates.find((c) => existsSync(path.join(c, "bin", exe)));
  if (!root) {
    throw new PgferryError("BAD_OPTION", `No PostgreSQL server (bin/${exe}) in ${abs}.`, {
      side: "local",
      hint: "Give the installation's directory or its bin/ (e.g. /usr/lib/postgresql/16, or the output of `pg_config --bindir`).",
    });
  }
  return { root, major: serverMajor(path.join(root, "bin", exe)) };
}

/** A directory that holds one installation per major (Debian's layout), or not. */
export function isInstallationSet(dir: string): boolean {
  const abs = path.resolve(dir);
  return !existsSync(path.join(abs, "bin", exe)) && !existsSync(path.join(abs, exe));
}

function serverMajor(postgres: string): number {
  let out: string;
  try {
    out = execFileSync(postgres, ["--version"], { encoding: "utf8" });
  } catch (cause) {
    throw new PgferryError("BAD_OPTION", `${postgres} --version failed.`, { side: "local", cause });
  }
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(out);
  if (!m || Number(m[1]) < 12) {
    throw new PgferryError("BAD_OPTION", `${postgres} is not PostgreSQL 12 or newer (${out.trim()}).`, {
      side: "local",
      hint: "pgferry supports PostgreSQL 12 and newer.",
    });
  }
  return Number(m[1]);
}
