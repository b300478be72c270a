import { describe, expect, it } from "vitest";
import { rowCaptureFunctionSql } from "../../src/capture/index.js";
import { rowApplySql, rowCopyOutSql, rowWindowPlan } from "../../src/stream/row-sql.js";

// Issue 11: the pure parts of the full-row strategy. The net counts themselves are computed by
// SQL and checked against real servers in test/integration/stream-keyless.test.ts.

describe("rowWindowPlan", () => {
  it("nets a window of changes, copies one a TRUNCATE or a DDL resume breaks, skips an empty one", () => {
    expect(rowWindowPlan({ changes: 0, truncates: 0, recopy: false })).toBe("none");
    expect(rowWindowPlan({ changes: 5, truncates: 0, recopy: false })).toBe("net");
    expect(rowWindowPlan({ changes: 5, truncates: 1, recopy: false })).toBe("copy");
    // A TRUNCATE alone is a log row too, but the count is of I/D rows only: still a copy.
    expect(rowWindowPlan({ changes: 0, truncates: 1, recopy: false })).toBe("copy");
    // Resumed after DDL with nothing logged since: copied all the same (old-shape rows may be in the log).
    expect(rowWindowPlan({ changes: 0, truncates: 0, recopy: true })).toBe("copy");
  });
});

describe("rowCaptureFunctionSql", () => {
  const plain = rowCaptureFunctionSql(7, { columns: null }, false, {
    settings: { extra_float_digits: "3" },
    equalityColumns: [],
  });
  const parted = rowCaptureFunctionSql(8, { columns: ["a", "B c"] }, true);

  it("logs a plain table's own row text, a partitioned table's columns in its order", () => {
    expect(plain).toContain("pg_catalog.to_jsonb(new::pg_catalog.text)");
    expect(plain).toContain("pg_catalog.to_jsonb(old::pg_catalog.text)");
    expect(parted).toContain('row(new."a", new."B c")::pg_catalog.text');
    expect(parted).toContain('row(old."a", old."B c")::pg_catalog.text');
  });

  it("an UPDATE logs the old row deleted then the new inserted, nothing when their text is equal", () => {
    const upd = plain.slice(plain.indexOf("capture_7_upd"), plain.indexOf("capture_7_del"));
    // No DECLARE: the fence's guard is put right after the body's leading BEGIN.
    expect(upd).not.toContain("declare");
    expect(upd).toContain(
      "if new::pg_catalog.text operator(pg_catalog.=) old::pg_catalog.text then return null; end if;",
    );
    expect(upd).toContain(
      "values (7, 'D', pg_catalog.to_jsonb(old::pg_catalog.text)), (7, 'I', pg_catalog.to_jsonb(new::pg_catalog.text))",
    );
  });

  it("pins the format's settings on the row functions only, and keeps the fence's names", () => {
    const fns = plain.split("create or replace function ").slice(1);
    expect(fns.map((f) => f.slice(0, f.indexOf("("))).sort()).toEqual([
      'pgferry."capture_7_del"',
      'pgferry."capture_7_ins"',
      'pgferry."capture_7_trunc"',
      'pgferry."capture_7_upd"',
    ]);
    for (const f of fns) {
      const pinned = f.includes(`set "extra_float_digits" = '3'`);
      expect(pinned, f.slice(0, 40)).toBe(!f.startsWith('pgferry."capture_7_trunc"'));
    }
    // The apply-session test only where asked for (the target's capture, for the rollback window).
    expect(plain).not.toContain("pgferry.apply");
    expect(parted).toContain("pgferry.apply");
  });
});

describe("rowApplySql", () => {
  const table = {
    id: 3,
    schema: "s",
    name: "t",
    shape: "a:integer,g:integer:g",
    columns: [
      { name: "a", type: "integer", generated: false, identity: "a" },
      { name: "g", type: "integer", generated: true },
    ],
  };

  it("deletes |n| matching rows in one scan and inserts n copies, in the target's rendering", () => {
    const { del, ins } = rowApplySql({ ...table, kind: "table" });
    expect(del).toContain('delete from only "s"."t" t where (t.tableoid, t.ctid) in');
    expect(del).toContain("row_number() over (partition by d.r)");
    expect(del).toContain("where m.rn <= m.want");
    expect(del).toContain('(s.img::"s"."t")::text as r');
    expect(del).toContain("having sum(s.n) < 0");
    expect(ins).toContain('insert into "s"."t" ("a") overriding system value');
    expect(ins).toContain("having sum(s.n) > 0");
    expect(ins).toContain("generate_series(1, p.n)");
    // A partitioned table is read and written through its root, every leaf.
    expect(rowApplySql({ ...table, kind: "partitioned" }).del).toContain('delete from "s"."t" t');
  });

  it("nets the log by its text before staging: only I and D rows, zero sums left out", () => {
    const sql = rowCopyOutSql("c.tbl = 3");
    expect(sql).toContain(
      "c.op in ('I', 'D') group by 1 having sum(case c.op when 'I' then 1 else -1 end) <> 0",
    );
  });
});
