import { describe, expect, it } from "vitest";
import { driverCode, fromDriverError } from "../../src/db/driver-error.js";
import { SQLSTATE } from "../../src/db/sqlstate.js";
import { ERROR_CODES, PgferryError, registerSecret } from "../../src/errors/index.js";

// Issue 10, item 4: one mapping of driver errors to pgferry's codes, used by every stage.

const serverError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("fromDriverError", () => {
  it("maps each kind of failure to its code", () => {
    const cases: [unknown, string][] = [
      [serverError(SQLSTATE.lockNotAvailable, "canceling statement due to lock timeout"), "LOCK_TIMEOUT"],
      [
        serverError(SQLSTATE.adminShutdown, "terminating connection due to administrator command"),
        "CONNECTION_LOST",
      ],
      [serverError(SQLSTATE.deadlockDetected, "deadlock detected"), "CONNECTION_LOST"],
      [Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), "CONNECTION_LOST"],
      [new Error("Connection terminated unexpectedly"), "CONNECTION_LOST"],
      [
        serverError(
          SQLSTATE.insufficientPrivilege,
          'query would be affected by row-level security policy for table "t"',
        ),
        "ROW_SECURITY",
      ],
      [serverError(SQLSTATE.insufficientPrivilege, "permission denied for table t"), "PERMISSION_DENIED"],
      [serverError(SQLSTATE.undefinedTable, 'relation "t" does not exist'), "INTERNAL"],
      [new TypeError("x is undefined"), "INTERNAL"],
    ];
    for (const [err, code] of cases) {
      expect(fromDriverError(err, { side: "source" }).code, String(err)).toBe(code);
      expect(driverCode(err)).toBe(code);
    }
  });

  it("passes a PgferryError through unchanged", () => {
    const mine = new PgferryError("DDL_DETECTED", "a table changed", { side: "source" });
    expect(fromDriverError(mine, { side: "target", what: "x" })).toBe(mine);
  });

  it("leads with what was being done, names the side, keeps the cause, gives the catalogue's fix", () => {
    const cause = serverError(SQLSTATE.lockNotAvailable, "canceling statement due to lock timeout");
    const e = fromDriverError(cause, { side: "target", what: "Copying chunk 3 of app.t" });
    expect(e).toMatchObject({
      code: "LOCK_TIMEOUT",
      side: "target",
      message: "Copying chunk 3 of app.t: canceling statement due to lock timeout",
      hint: ERROR_CODES.LOCK_TIMEOUT.hint,
    });
    expect(e.cause).toBe(cause);
    expect(fromDriverError(cause, { side: undefined }).side).toBeUndefined();
    expect(fromDriverError(cause, { side: undefined }).message).toBe(
      "canceling statement due to lock timeout",
    );
  });

  it("takes the code of any other failure, and a lead and a fix per code", () => {
    const other = serverError("22P02", 'invalid input syntax for type integer: "x"');
    const ctx = {
      side: "source" as const,
      what: "Copying chunk 1 of t",
      otherwise: "COPY_FAILED" as const,
      leads: { COPY_FAILED: "Copying chunk 1 of t failed" },
      hints: { LOCK_TIMEOUT: "Let the ALTER TABLE finish." },
    };
    expect(fromDriverError(other, ctx)).toMatchObject({
      code: "COPY_FAILED",
      message: 'Copying chunk 1 of t failed: invalid input syntax for type integer: "x"',
      hint: ERROR_CODES.COPY_FAILED.hint,
    });
    expect(fromDriverError(serverError(SQLSTATE.lockNotAvailable, "lock timeout"), ctx)).toMatchObject({
      message: "Copying chunk 1 of t: lock timeout",
      hint: "Let the ALTER TABLE finish.",
    });
  });

  it("never shows a password", () => {
    registerSecret("s3cret-pw");
    const err = serverError(
      SQLSTATE.insufficientPrivilege,
      "permission denied; postgres://app:s3cret-pw@db.example.com/shop and s3cret-pw again",
    );
    const e = fromDriverError(err, { side: "source", what: "Reading" });
    expect(e.message).not.toContain("s3cret-pw");
    expect(JSON.stringify(e)).not.toContain("s3cret-pw");
  });
});
