#!/usr/bin/env node
// In a clone (src/ beside bin/, tsx among the dev dependencies) this runs the TypeScript
// sources, so there is no build step and nothing stale; an installed package has only the
// compiled dist/ and runs that, with no TypeScript at run time.
import { existsSync } from "node:fs";

const sources = new URL("../src/cli/main.ts", import.meta.url);
let main;
if (existsSync(sources)) {
  const tsx = await import("tsx/esm/api").catch(() => undefined);
  if (tsx) {
    tsx.register();
    ({ main } = await import(sources.href));
  }
}
if (!main) {
  try {
    ({ main } = await import("../dist/cli/main.js"));
  } catch (err) {
    if (err?.code !== "ERR_MODULE_NOT_FOUND" || !existsSync(sources)) throw err;
    process.stderr.write(
      "error: pgferry is not built and tsx is not installed: run `npm ci` (or `npm run build`).\n",
    );
    process.exit(1);
  }
}
// Let stdout drain before leaving.
process.exitCode = await main(process.argv);
