import { describe, expect, it } from "vitest";
import { parsePatterns, tableMatcher } from "../../src/catalog/index.js";

const TABLES: [string, string][] = [
  ["public", "accounts"],
  ["public", "log_1"],
  ["public", "log_12"],
  ["audit", "events"],
  ["audit", "log_2"],
  ["billing", "a+b"],
  ["billing", "aab"],
];

function selected(filter: Parameters<typeof tableMatcher>[0]): string[] {
  const match = tableMatcher(filter);
  return TABLES.filter(([s, n]) => match(s, n)).map(([s, n]) => `${s}.${n}`);
}

describe("tableMatcher", () => {
  it("selects every table without patterns", () => {
    expect(selected({})).toHaveLength(TABLES.length);
  });

  it("matches schema.table with * in either part", () => {
    expect(selected({ include: ["public.*"] })).toEqual(["public.accounts", "public.log_1", "public.log_12"]);
    expect(selected({ include: ["*.events"] })).toEqual(["audit.events"]);
    expect(selected({ include: ["audit.events", "billing.*"] })).toEqual([
      "audit.events",
      "billing.a+b",
      "billing.aab",
    ]);
  });

  it("matches a name without a schema in every schema, ? as exactly one character", () => {
    expect(selected({ include: ["log_?"] })).toEqual(["public.log_1", "audit.log_2"]);
    expect(selected({ include: ["log_*"] })).toEqual(["public.log_1", "public.log_12", "audit.log_2"]);
  });

  it("treats regex characters literally", () => {
    expect(selected({ include: ["billing.a+b"] })).toEqual(["billing.a+b"]);
  });

  it("lets --exclude win over --tables", () => {
    expect(selected({ include: ["public.*"], exclude: ["log_*"] })).toEqual(["public.accounts"]);
    expect(selected({ exclude: ["audit.*", "billing.*"] })).toEqual([
      "public.accounts",
      "public.log_1",
      "public.log_12",
    ]);
  });

  it("is case-sensitive, like quoted PostgreSQL names", () => {
    expect(selected({ include: ["PUBLIC.accounts"] })).toEqual([]);
  });

  it("rejects a pattern with more than one dot, or an empty one, as bad input", () => {
    for (const bad of ["a.b.c", " "]) {
      expect(() => tableMatcher({ exclude: [bad] })).toThrow(
        expect.objectContaining({ code: "BAD_OPTION", exitCode: 2 }),
      );
    }
  });
});

describe("parsePatterns", () => {
  it("splits a comma-separated flag, trimming and dropping empty entries", () => {
    expect(parsePatterns(" public.* , audit.events,,")).toEqual(["public.*", "audit.events"]);
    expect(parsePatterns("")).toEqual([]);
    expect(parsePatterns(undefined)).toBeUndefined();
  });
});
