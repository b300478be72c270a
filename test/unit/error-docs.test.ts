import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors/codes.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DOC = readFileSync(path.join(ROOT, "docs/errors.md"), "utf8");

/** docs/errors.md: one `### \`CODE\`` section per code. */
function documentedSections(): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = DOC.split(/^### /m).slice(1);
  for (const part of parts) {
    const m = /^`([A-Z][A-Z0-9_]*)`/.exec(part);
    if (m) sections.set(m[1]!, part);
  }
  return sections;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

describe("docs/errors.md", () => {
  const sections = documentedSections();
  const catalogue = Object.keys(ERROR_CODES).sort();

  it("documents exactly the codes of ERROR_CODES, each once", () => {
    const headings = [...DOC.matchAll(/^### `([A-Z][A-Z0-9_]*)`/gm)].map((m) => m[1]!);
    expect(new Set(headings).size).toBe(headings.length);
    expect([...sections.keys()].sort()).toEqual(catalogue);
  });

  it("gives every code its exit status and a fix", () => {
    for (const [code, text] of sections) {
      const spec = ERROR_CODES[code as keyof typeof ERROR_CODES];
      expect(text, code).toMatch(new RegExp(`Exit status: ${spec.exit}\\b`));
      const fix = /\*\*Fix:\*\*\s*(\S[^\n]*)/.exec(text);
      expect(fix?.[1]?.length ?? 0, `${code} has no fix`).toBeGreaterThan(20);
    }
  });

  it("knows every code the source throws", () => {
    const thrown = new Set<string>();
    for (const file of sourceFiles(path.join(ROOT, "src"))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/new PgferryError\(\s*"([A-Z][A-Z0-9_]*)"/g)) thrown.add(m[1]!);
    }
    expect(thrown.size).toBeGreaterThan(10);
    const unknown = [...thrown].filter((c) => !(c in ERROR_CODES));
    expect(unknown).toEqual([]);
  });
});
