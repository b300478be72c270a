import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FINDING_CODES } from "../../src/check/codes.js";

const DOC = readFileSync(path.resolve(import.meta.dirname, "../../docs/commands/check.md"), "utf8");

/** The codes in the first column of the table under `### <title>`. */
function tableCodes(title: string): string[] {
  const section = DOC.split(/^### /m).find((s) => s.startsWith(`${title}\n`));
  if (!section) throw new Error(`no section ${title}`);
  return [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!);
}

describe("docs/commands/check.md", () => {
  const documented = {
    blocker: tableCodes("Blockers"),
    warning: tableCodes("Warnings"),
    info: tableCodes("Notes"),
  };

  it("lists exactly the catalogue's finding codes, each once", () => {
    const all = [...documented.blocker, ...documented.warning, ...documented.info];
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort()).toEqual(Object.keys(FINDING_CODES).sort());
  });

  it("lists each code under its first severity, and says when it has another", () => {
    for (const [code, severities] of Object.entries(FINDING_CODES)) {
      const [first, ...others] = severities;
      expect(documented[first], code).toContain(code);
      const row = new RegExp(`^\\| \`${code}\` \\|.*$`, "m").exec(DOC)![0];
      for (const other of others) expect(row, code).toContain(other === "info" ? "**note**" : `**${other}**`);
    }
  });
});
