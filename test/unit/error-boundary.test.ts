import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { toPgferryError } from "../../src/cli/errors.js";

describe("the CLI's error boundary", () => {
  it("names row-level security when RLS would have hidden rows from a copy (SQLSTATE 42501)", () => {
    const err = Object.assign(
      new Error('query would be affected by row-level security policy for table "t"'),
      {
        code: "42501",
      },
    );
    expect(toPgferryError(err)).toMatchObject({ code: "ROW_SECURITY", exitCode: 1 });
  });

  it("keeps other 42501 errors as a missing privilege", () => {
    const err = Object.assign(new Error("permission denied for table t"), { code: "42501" });
    expect(toPgferryError(err)).toMatchObject({ code: "PERMISSION_DENIED", exitCode: 1 });
  });

  it("names a lock timeout or a lost connection no stage mapped, instead of calling it a bug (issue 10, item 4)", () => {
    const lock = Object.assign(new Error("canceling statement due to lock timeout"), { code: "55P03" });
    expect(toPgferryError(lock)).toMatchObject({ code: "LOCK_TIMEOUT", side: undefined });
    expect(toPgferryError(new Error("Connection terminated unexpectedly"))).toMatchObject({
      code: "CONNECTION_LOST",
    });
    expect(toPgferryError(new TypeError("x is undefined"))).toMatchObject({
      code: "INTERNAL",
      side: "local",
    });
  });

  it("turns commander's usage errors into USAGE with exit 2", () => {
    const err = new CommanderError(1, "commander.unknownOption", "error: unknown option '--bogus'");
    expect(toPgferryError(err)).toMatchObject({
      code: "USAGE",
      exitCode: 2,
      message: "Unknown option '--bogus'.",
    });
  });
});
