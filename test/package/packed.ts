import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

export const repoRoot = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

/** pgferry as a user gets it: `npm pack` (which builds), then installed into an empty project. */
export interface InstalledPackage {
  /** The empty project the tarball was installed into (with --omit=dev). */
  readonly dir: string;
  readonly tarball: string;
  /** The paths inside the tarball, without the leading package/. */
  readonly files: string[];
  /** node_modules/.bin/pgferry of the installed package. */
  readonly bin: string;
  remove(): void;
}

export async function packAndInstall(): Promise<InstalledPackage> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-package-"));
  try {
    // prepack builds dist/; --json names the tarball and lists its files.
    const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", dir], {
      cwd: repoRoot,
      maxBuffer: 64 * 2 ** 20,
    });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as {
      filename: string;
      files: { path: string }[];
    }[];
    const tarball = path.join(dir, packed!.filename);
    const project = path.join(dir, "project");
    await run("mkdir", [project]);
    writeFileSync(
      path.join(project, "package.json"),
      `${JSON.stringify({ name: "pgferry-user", private: true, type: "module" })}\n`,
    );
    // --prefer-offline: the dependencies are in npm's cache after `npm ci`; the registry otherwise.
    await run("npm", ["install", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", tarball], {
      cwd: project,
    });
    return {
      dir: project,
      tarball,
      files: packed!.files.map((f) => f.path),
      bin: path.join(project, "node_modules", ".bin", "pgferry"),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Bytes of every file under dir (symlinks not followed). */
export function diskBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

export function repoVersion(): string {
  return (JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string })
    .version;
}
