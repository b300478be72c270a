import { describe, expect, it } from "vitest";
import { namesRelation } from "../../src/check/exclusions.js";

// Issue 12, item 2: a trigger's function that writes into a table left out fails the
// application's writes after the switch. PL/pgSQL records no dependency, so check reads the body.
describe("namesRelation", () => {
  const audit = { schema: "public", name: "audit_log" };

  it("finds a plain name written bare, qualified, quoted or in another case, and in dynamic SQL", () => {
    for (const body of [
      "insert into audit_log values (1)",
      "INSERT INTO public.AUDIT_LOG VALUES (1)",
      'update "audit_log" set x = 1',
      "execute 'delete from audit_log where id = ' || id",
      "select * from public . audit_log",
    ])
      expect(namesRelation(body, audit), body).toBe(true);
  });

  it("ignores longer names, other identifiers and comments", () => {
    for (const body of [
      "insert into audit_log_2024 values (1)",
      "select my_audit_log from t",
      "select $audit_log",
      "-- writes audit_log later\nselect 1",
      "/* audit_log */ select 1",
    ])
      expect(namesRelation(body, audit), body).toBe(false);
  });

  it("finds an odd name only in its quoted form", () => {
    const odd = { schema: "public", name: 'Has.Dot"q' };
    expect(namesRelation('insert into public."Has.Dot""q" values (1)', odd)).toBe(true);
    expect(namesRelation("insert into Has.Dot values (1)", odd)).toBe(false);
  });

  it("asks for the schema when a migrated table shares the name", () => {
    const archived = { schema: "archive", name: "orders" };
    expect(namesRelation("insert into orders values (1)", archived, true)).toBe(false);
    expect(namesRelation("insert into archive.orders values (1)", archived, true)).toBe(true);
    expect(namesRelation('insert into "archive"."orders" values (1)', archived, true)).toBe(true);
  });
});
