import { readFileSync } from "node:fs";
import path from "node:path";
import type { Command, Option } from "commander";
import { describe, expect, it } from "vitest";
import type { CliContext } from "../../src/cli/context.js";
import { buildProgram } from "../../src/cli/main.js";
import { makeOutput } from "../../src/cli/output.js";

// Issue 13, item 3: `pgferry <cmd> --help` and docs/commands/<cmd>.md say the same thing.

const ROOT = path.resolve(import.meta.dirname, "../..");

function program(): Command {
  const ctx: CliContext = {
    out: makeOutput(),
    setExit: () => {},
    signal: new AbortController().signal,
    debug: () => false,
    notice: () => {},
    record: () => {},
  };
  return buildProgram(ctx);
}

/** A command's visible flags, its subcommands' too (`tables add`, `tables remove`). */
function helpFlags(cmd: Command): Map<string, Option> {
  const flags = new Map<string, Option>();
  for (const c of [cmd, ...cmd.commands])
    for (const o of c.options) if (!o.hidden && o.long) flags.set(o.long, o);
  return flags;
}

/** The rows of the page's flag table (`| flag | …`): each row's flags (first cell) and its text. */
function docRows(name: string): { flags: string[]; text: string }[] {
  const page = readFileSync(path.join(ROOT, "docs/commands", `${name}.md`), "utf8");
  const lines = page.split("\n");
  const head = lines.findIndex((l) => /^\| flag \|/.test(l));
  if (head < 0) return [];
  const rows: { flags: string[]; text: string }[] = [];
  for (const line of lines.slice(head + 2)) {
    if (!line.startsWith("|")) break;
    const first = line.split(/(?<!\\)\|/)[1] ?? "";
    rows.push({ flags: [...first.matchAll(/`(--[a-z][a-z-]*)/g)].map((m) => m[1]!), text: line });
  }
  return rows;
}

/** "(default 10)", "default 0.2:" → "10", "0.2"; undefined when the help names no number. */
function helpDefault(o: Option): string | undefined {
  return /\bdefault:? (\d+(?:\.\d+)?)\b/.exec(o.description)?.[1];
}

describe("each command's --help and its docs page", () => {
  const root = program();
  const globals = new Set(root.options.map((o) => o.long));
  for (const cmd of root.commands) {
    const name = cmd.name();
    it(`${name}: every flag documented, every documented flag real`, () => {
      const help = helpFlags(cmd);
      const rows = docRows(name);
      const documented = new Set(rows.flatMap((r) => r.flags));
      expect(rows.length, `docs/commands/${name}.md has no flag table`).toBeGreaterThan(0);
      expect([...help.keys()].filter((f) => !documented.has(f)).sort(), "flags the page leaves out").toEqual(
        [],
      );
      expect(
        [...documented].filter((f) => !help.has(f) && !globals.has(f)).sort(),
        "documented flags that do not exist",
      ).toEqual([]);
    });

    it(`${name}: the defaults the help names are the page's`, () => {
      const rows = docRows(name);
      for (const [flag, o] of helpFlags(cmd)) {
        const d = helpDefault(o);
        if (d === undefined) continue;
        const row = rows.find((r) => r.flags.includes(flag));
        expect(row?.text, `${name} ${flag}: help says default ${d}`).toMatch(
          new RegExp(`default:? \`?${d.replace(".", "\\.")}\\b`),
        );
      }
    });
  }

  it("covers every command with a page", () => {
    expect(root.commands.map((c) => c.name()).sort()).toEqual(
      ["check", "cleanup", "cutover", "demo", "rollback", "start", "status", "tables", "verify"].sort(),
    );
  });
});
