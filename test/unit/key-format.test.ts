import { describe, expect, it } from "vitest";
import { captureFunctionSql, type KeyLeafType, keyFormatFor } from "../../src/capture/index.js";

function format(columns: Record<string, KeyLeafType[]>) {
  return keyFormatFor(new Map(Object.entries(columns)));
}

const plain = (name: string): KeyLeafType => ({ name, inText: false });
const inRange = (name: string): KeyLeafType => ({ name, inText: true });

describe("keyFormatFor", () => {
  it("pins nothing for keys whose text is the same under every setting", () => {
    for (const t of [
      "int4",
      "int8",
      "text",
      "uuid",
      "numeric",
      "bytea",
      "time",
      "timetz",
      "date",
      "timestamp",
    ]) {
      expect(format({ k: [plain(t)] }), t).toEqual({ settings: {}, equalityColumns: [] });
    }
  });

  it("pins what each settings-dependent type needs", () => {
    expect(format({ a: [plain("int4")], b: [plain("float8")] }).settings).toEqual({
      extra_float_digits: "3",
    });
    expect(format({ k: [plain("float4")] }).settings).toEqual({ extra_float_digits: "3" });
    expect(format({ k: [plain("interval")] }).settings).toEqual({ intervalstyle: "postgres" });
    expect(format({ k: [plain("money")] }).settings).toEqual({ lc_monetary: "C" });
    expect(format({ k: [plain("regclass")] }).settings).toEqual({ search_path: "pg_catalog" });
    expect(format({ k: [inRange("date")] }).settings).toEqual({ datestyle: "ISO, YMD" });
    expect(format({ k: [inRange("float8")] }).settings).toEqual({ extra_float_digits: "3" });
  });

  it("compares timestamptz parts with = unless DateStyle is pinned", () => {
    expect(format({ id: [plain("int8")], at: [plain("timestamptz")] })).toEqual({
      settings: {},
      equalityColumns: ["at"],
    });
    expect(format({ r: [inRange("timestamptz")], at: [plain("timestamptz")] })).toEqual({
      settings: { datestyle: "ISO, YMD" },
      equalityColumns: [],
    });
  });
});

describe("captureFunctionSql", () => {
  it("gives the row functions of a float key a SET clause, and no other", () => {
    const sql = captureFunctionSql(7, ["k"], null, false, format({ k: [plain("float8")] }));
    const fns = sql.split("create or replace function").slice(1);
    expect(fns).toHaveLength(4);
    for (const f of fns.slice(0, 3))
      expect(f).toContain(`security definer set "extra_float_digits" = '3' as`);
    expect(fns[3]).toContain("capture_7_trunc");
    expect(fns[3]).not.toContain(" set ");
  });

  it("builds the same functions as before for keys that need nothing", () => {
    const sql = captureFunctionSql(7, ["id"], null, false, format({ id: [plain("int8")] }));
    expect(sql).not.toMatch(/definer set/);
    expect(sql).toContain('new."id"::pg_catalog.text operator(pg_catalog.=) old."id"::pg_catalog.text');
  });

  it("compares a timestamptz key part with =", () => {
    const sql = captureFunctionSql(
      7,
      ["id", "at"],
      null,
      false,
      format({ id: [plain("int8")], at: [plain("timestamptz")] }),
    );
    expect(sql).toContain(
      'new."id"::pg_catalog.text operator(pg_catalog.=) old."id"::pg_catalog.text and new."at" operator(pg_catalog.=) old."at"',
    );
  });
});
