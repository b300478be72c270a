// `npm run build` (and prepack): compiles src/ to dist/ with declarations, and copies the SQL
// files the code reads at run time beside the modules that read them (import.meta.url), and
// the monitor's dashboard with the chart library it loads (uPlot, a dev dependency: the
// package carries its two files and its licence, not the npm package).
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, "dist");
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
let copied = 0;
for (const file of readdirSync(path.join(root, "src"), { recursive: true })) {
  if (!String(file).endsWith(".sql")) continue;
  cpSync(path.join(root, "src", file), path.join(dist, file));
  copied++;
}
cpSync(path.join(root, "src/monitor/assets"), path.join(dist, "monitor/assets"), { recursive: true });
const uplot = path.join(root, "node_modules/uplot");
const vendor = path.join(dist, "monitor/assets/vendor");
for (const file of ["dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"])
  cpSync(
    path.join(uplot, file),
    path.join(vendor, path.basename(file) === "LICENSE" ? "uPlot.LICENSE" : path.basename(file)),
  );
process.stdout.write(`built dist/ (${copied} SQL files copied, the dashboard's assets)\n`);
