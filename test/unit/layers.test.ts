import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

// The import rules docs/architecture.md states ("The layers"), checked on the sources.
const SRC = path.resolve(import.meta.dirname, "../../src");
const STAGES = [
  "check",
  "prepare",
  "copy",
  "index-build",
  "stream",
  "verify",
  "tables",
  "cutover",
  "cleanup",
];
const SHARED = ["catalog", "capture", "schema", "state", "positions", "progress"];
const INFRA = ["db", "errors"];

function filesOf(dir: string): string[] {
  return readdirSync(path.join(SRC, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => path.join(dir, f));
}

/** The src/ folders a file imports from (relative imports only), with the imported path. */
function importsOf(file: string): { folder: string; spec: string }[] {
  const text = readFileSync(path.join(SRC, file), "utf8");
  const out: { folder: string; spec: string }[] = [];
  for (const m of text.matchAll(/from "(\.{1,2}\/[^"]+)"/g)) {
    const target = path.relative(SRC, path.resolve(path.dirname(path.join(SRC, file)), m[1]!));
    out.push({ folder: target.split(path.sep)[0]!, spec: target });
  }
  return out;
}

describe("layers", () => {
  it("a stage uses another stage only through its entry point (index.ts), never its internals", () => {
    const bad: string[] = [];
    for (const stage of STAGES) {
      for (const file of filesOf(stage)) {
        for (const imp of importsOf(file)) {
          if (imp.folder === stage || !STAGES.includes(imp.folder)) continue;
          if (imp.spec !== path.join(imp.folder, "index.js")) bad.push(`${file} → ${imp.spec}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it("the stages' uses of each other form no cycle", () => {
    const edges = new Map<string, Set<string>>();
    for (const stage of STAGES) {
      const to = new Set<string>();
      for (const file of filesOf(stage)) {
        for (const imp of importsOf(file))
          if (imp.folder !== stage && STAGES.includes(imp.folder)) to.add(imp.folder);
      }
      edges.set(stage, to);
    }
    const cycle = (from: string, seen: string[]): string[] | undefined => {
      if (seen.includes(from)) return [...seen, from];
      for (const next of edges.get(from) ?? []) {
        const c = cycle(next, [...seen, from]);
        if (c) return c;
      }
      return undefined;
    };
    for (const stage of STAGES) expect(cycle(stage, [])).toBeUndefined();
  });

  it("shared domain code and infrastructure import no stage, and infrastructure no domain code", () => {
    const bad: string[] = [];
    for (const folder of [...SHARED, ...INFRA]) {
      for (const file of filesOf(folder)) {
        for (const imp of importsOf(file)) {
          const up = STAGES.includes(imp.folder) || imp.folder === "cli" || imp.folder === "migration.ts";
          const domain = INFRA.includes(folder) && SHARED.includes(imp.folder);
          if (up || domain) bad.push(`${file} → ${imp.spec}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it("the event vocabulary and the status model import only infrastructure", () => {
    // readStatus (status.ts, operation-status.ts) reads the state and the fence: it is above them.
    const bad = ["progress/events.ts", "progress/status-model.ts"].flatMap((file) =>
      importsOf(file)
        .filter((imp) => imp.folder !== "progress" && !INFRA.includes(imp.folder))
        .map((imp) => `${file} → ${imp.spec}`),
    );
    expect(bad).toEqual([]);
  });

  it("the monitor reads the event stream only: no library code imports it, and it imports no stage", () => {
    const library = readdirSync(SRC, { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== "cli" && d.name !== "monitor")
      .flatMap((d) => filesOf(d.name));
    const bad = [...library, "migration.ts", "index.ts"]
      .flatMap((file) => importsOf(file).map((imp) => ({ file, imp })))
      .filter(({ imp }) => imp.folder === "monitor")
      .map(({ file, imp }) => `${file} → ${imp.spec}`);
    for (const file of filesOf("monitor"))
      for (const imp of importsOf(file))
        if (STAGES.includes(imp.folder) || ["cli", "demo", "migration.ts"].includes(imp.folder))
          bad.push(`${file} → ${imp.spec}`);
    expect(bad).toEqual([]);
  });
});
