import { describe, expect, it } from "vitest";
import { schemaErrorHint, schemaFixSql } from "../../src/schema/hints.js";

// Issue 12: the SCHEMA_APPLY_FAILED hint guessed "a missing extension or role" for every
// refusal, a syntax error included. The hint now follows the SQLSTATE, and guesses nothing else.
describe("schemaErrorHint", () => {
  const ctx = { role: "app", targetMajor: 17, pgDumpMajor: 15 };

  it("names the GRANT for a superuser-only parameter on PostgreSQL 15+, and the alternative before", () => {
    const msg = 'permission denied to set parameter "temp_file_limit"';
    expect(schemaErrorHint("42501", msg, ctx)).toContain("GRANT SET ON PARAMETER temp_file_limit TO app;");
    const old = schemaErrorHint("42501", msg, { ...ctx, targetMajor: 14 })!;
    expect(old).not.toContain("GRANT SET ON PARAMETER temp_file_limit TO");
    expect(old).toContain("administrator create the function");
  });

  it("quotes the role only when it must", () => {
    const msg = "permission denied for foreign-data wrapper postgres_fdw";
    expect(schemaErrorHint("42501", msg, { role: "App Role" })).toContain(
      'GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO "App Role";',
    );
  });

  it("sends a syntax error to a pg_dump of the target's version, never to extensions or roles", () => {
    const hint = schemaErrorHint("42601", 'syntax error at or near "json"', ctx)!;
    expect(hint).toContain("pg_dump 17");
    expect(hint).toContain("pg_dump 15 quotes only");
    expect(hint).not.toMatch(/extension|role/);
  });

  it("says what a self-reading view is, and nothing specific for an unknown refusal", () => {
    const view = { type: "VIEW", name: "public.v" };
    expect(schemaErrorHint("42P01", 'relation "public.v" does not exist', ctx, view)).toContain(
      "DROP VIEW public.v;",
    );
    expect(schemaErrorHint("42P01", 'relation "public.w" does not exist', ctx, view)).toContain(
      "refers to something",
    );
    expect(schemaErrorHint("XX000", "something odd", ctx)).toBeUndefined();
    expect(schemaErrorHint(undefined, "no code", ctx)).toBeUndefined();
  });

  it("names CREATE ROLE for a role the target lacks (a policy's TO list)", () => {
    const msg = 'role "App Reader" does not exist';
    expect(schemaErrorHint("42704", msg, ctx)).toContain('CREATE ROLE "App Reader" NOLOGIN;');
    expect(schemaFixSql("42704", msg, ctx)).toBe('CREATE ROLE "App Reader" NOLOGIN;');
  });

  it("offers an administrator's copy only for functions, which start keeps; grants for the rest", () => {
    const msg = "permission denied for table x";
    expect(schemaErrorHint("42501", msg, ctx, { type: "FUNCTION", name: "public.f()" })).toContain(
      "administrator create it",
    );
    const table = schemaErrorHint("42501", msg, ctx, { type: "TABLE", name: "public.t" })!;
    expect(table).not.toContain("administrator create");
    expect(schemaFixSql("42501", msg, ctx)).toBeUndefined();
    const schema = "permission denied for schema My App";
    expect(schemaErrorHint("42501", schema, ctx)).toContain('GRANT USAGE, CREATE ON SCHEMA "My App" TO app;');
    expect(schemaFixSql("42501", schema, ctx)).toBe('GRANT USAGE, CREATE ON SCHEMA "My App" TO app;');
  });

  it("gives as SQL exactly the GRANT the hint prints", () => {
    for (const msg of [
      'permission denied to set parameter "temp_file_limit"',
      "permission denied for foreign-data wrapper postgres_fdw",
    ]) {
      const sql = schemaFixSql("42501", msg, ctx)!;
      expect(schemaErrorHint("42501", msg, ctx)).toContain(sql);
    }
    expect(
      schemaFixSql("42501", 'permission denied to set parameter "x"', { ...ctx, targetMajor: 14 }),
    ).toBeUndefined();
  });
});
