import { mkdtempSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openLogFile } from "../../src/cli/log-file.js";
import { parseConnUrl } from "../../src/db/index.js";

// Issue 13, item 2: the log file keeps every event, stamped, and never a password.

describe("the log file", () => {
  it("appends stamped events, scrubbed of passwords, readable by its owner only", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-log-"));
    const file = path.join(dir, "ops.log");
    // Parsing a URL registers its password as a secret, as every command does.
    const url = parseConnUrl("postgres://app:s3cret-Pa55@db.example.com:5432/app", "source");
    const log = openLogFile(file, "cutover", [
      "cutover",
      "--switch-command=deploy --token s3cret-Pa55",
      "--json",
    ]);
    log.write({
      type: "log",
      level: "error",
      message: `cannot reach postgres://app:s3cret-Pa55@db.example.com/app`,
    });
    log.write({
      type: "log",
      level: "info",
      message: `raw secret s3cret-Pa55 in a driver message (${url.display})`,
    });
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines).toHaveLength(3);
    const events = lines.map((l) => JSON.parse(l) as { type: string; at: string; message: string });
    expect(events[0]!.message).toMatch(
      /^pgferry cutover started \(cutover --switch-command --json; pid \d+\)$/,
    );
    for (const e of events) expect(Number.isNaN(Date.parse(e.at))).toBe(false);
    expect(readFileSync(file, "utf8")).not.toContain("s3cret-Pa55");
    expect(statSync(file).mode & 0o077).toBe(0);
  });

  it("keeps none with -", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-log-"));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const log = openLogFile("-", "start", []);
      log.write({ type: "log", level: "info", message: "x" });
      expect(log.path).toBeNull();
      expect(() => statSync(path.join(dir, "pgferry.log"))).toThrow();
    } finally {
      process.chdir(cwd);
    }
  });
});
