import { describe, expect, it } from "vitest";
import { userCodeError } from "../../src/errors/index.js";

// Issue 12, item E: an error the user's code raised during a pgferry step is theirs, named.
describe("userCodeError", () => {
  it("names the innermost function that is not pgferry's, and its statement", () => {
    const e = userCodeError(
      {
        code: "23502",
        message: 'null value in column "who" violates not-null constraint',
        where:
          'SQL statement "insert into public.ddl_log (tag) values (r.command_tag)"\nPL/pgSQL function public.log_ddl() line 5 at SQL statement',
        internalQuery: "insert into public.ddl_log (tag) values (r.command_tag)",
      },
      "step fence",
    )!;
    expect(e.code).toBe("USER_OBJECT_FAILED");
    expect(e.message).toContain("public.log_ddl()");
    expect(e.message).toContain("during step fence");
    expect(e.message).toContain("insert into public.ddl_log");
    expect(e.hint).toContain("public.log_ddl()");
  });

  it("leaves pgferry's own functions and DO blocks alone", () => {
    for (const where of [
      "PL/pgSQL function pgferry.fence() line 8 at RAISE",
      "PL/pgSQL function inline_code_block line 12 at RAISE",
    ]) {
      expect(userCodeError({ code: "P0001", message: "x", where })).toBeUndefined();
    }
    expect(userCodeError({ code: "42P01", message: "no where" })).toBeUndefined();
  });
});
