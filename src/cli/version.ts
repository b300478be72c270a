import { readFileSync } from "node:fs";

/** package.json sits two levels up from both src/cli/ (a clone) and dist/cli/ (a package). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}
