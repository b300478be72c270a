import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  exactPattern,
  excludeFlag,
  parseExactName,
  parsePatterns,
  tableArg,
  tableMatcher,
} from "../../src/catalog/index.js";

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

  it("rejects a pattern with more than one unquoted dot, an empty part or an open quote, as bad input", () => {
    for (const bad of ["a.b.c", " ", "a.", ".b", '"a.b', 'public."x', '"".b']) {
      expect(() => tableMatcher({ exclude: [bad] })).toThrow(
        expect.objectContaining({ code: "BAD_OPTION", exitCode: 2 }),
      );
    }
  });
});

// Issue 12: a pattern must be able to name every real table, whatever characters its name holds.
const ODD: [string, string][] = [
  ["public", "has.dot"],
  ["public", 'has"quote'],
  ["public", "new\nline"],
  ["public", "a,b"],
  ["public", "star*"],
  ["public", "starry"],
  ["My Schema", "Mixed Case"],
  ["dot.schema", "t"],
  ["public", " padded "],
];

function oddSelected(patterns: string[]): string[] {
  const match = tableMatcher({ include: patterns });
  return ODD.filter(([s, n]) => match(s, n)).map(([s, n]) => `${s}|${n}`);
}

describe("quoted names in patterns", () => {
  it("takes what double quotes enclose literally: dots, quotes, newlines, commas, wildcards, spaces", () => {
    expect(oddSelected(['public."has.dot"'])).toEqual(["public|has.dot"]);
    expect(oddSelected(['public."has""quote"'])).toEqual(['public|has"quote']);
    expect(oddSelected(['public."new\nline"'])).toEqual(["public|new\nline"]);
    expect(oddSelected(['public."a,b"'])).toEqual(["public|a,b"]);
    expect(oddSelected(['public."star*"'])).toEqual(["public|star*"]);
    expect(oddSelected(['"My Schema"."Mixed Case"'])).toEqual(["My Schema|Mixed Case"]);
    expect(oddSelected(['"dot.schema".t'])).toEqual(["dot.schema|t"]);
    expect(oddSelected(['public." padded "'])).toEqual(["public| padded "]);
    // A bare dot still separates schema and name: has.dot is not one name.
    expect(oddSelected(["has.dot"])).toEqual([]);
  });

  it("mixes quoted runs with wildcards, as psql does", () => {
    expect(oddSelected(['public."star"*'])).toEqual(["public|star*", "public|starry"]);
    expect(oddSelected(['"dot.schema".*'])).toEqual(["dot.schema|t"]);
  });

  it("exactPattern writes a pattern that matches exactly the one table, for each odd name", () => {
    for (const [s, n] of ODD) {
      expect(oddSelected([exactPattern(s, n)])).toEqual([`${s}|${n}`]);
    }
    expect(exactPattern("public", "items")).toBe("public.items");
    expect(exactPattern("public", "has.dot")).toBe('public."has.dot"');
  });

  it("excludeFlag quotes the patterns for a POSIX shell only when they need it", () => {
    expect(excludeFlag([{ schema: "public", name: "items" }])).toBe("--exclude public.items");
    expect(excludeFlag([{ schema: "public", name: "it's.x" }])).toBe(`--exclude 'public."it'\\''s.x"'`);
    expect(
      excludeFlag([
        { schema: "public", name: "a" },
        { schema: "public", name: "a,b" },
      ]),
    ).toBe(`--exclude 'public.a,public."a,b"'`);
  });
});

describe("parsePatterns", () => {
  it("splits a comma-separated flag, trimming and dropping empty entries", () => {
    expect(parsePatterns(" public.* , audit.events,,")).toEqual(["public.*", "audit.events"]);
    expect(parsePatterns("")).toEqual([]);
    expect(parsePatterns(undefined)).toBeUndefined();
  });

  it("keeps a comma inside double quotes as part of the name", () => {
    expect(parsePatterns('public."a,b",audit.*')).toEqual(['public."a,b"', "audit.*"]);
    const all = parsePatterns(ODD.map(([s, n]) => exactPattern(s, n)).join(","))!;
    expect(all).toHaveLength(ODD.length);
    expect(oddSelected(all)).toHaveLength(ODD.length);
  });
});

describe("parseExactName (`pgferry tables add/remove`)", () => {
  it("reads back every odd name exactPattern writes, and tableArg survives a POSIX shell", () => {
    for (const [schema, name] of ODD) {
      expect(parseExactName(exactPattern(schema, name))).toEqual({ schema, name });
      const arg = tableArg(schema, name);
      const word = execFileSync("sh", ["-c", `printf %s ${arg}`], { encoding: "utf8" });
      expect(parseExactName(word)).toEqual({ schema, name });
    }
    expect(parseExactName("public.orders")).toEqual({ schema: "public", name: "orders" });
    expect(parseExactName('"public"."orders"')).toEqual({ schema: "public", name: "orders" });
  });

  it("refuses a bare name, a wildcard, a third part, an empty part or an open quote", () => {
    for (const bad of [
      "orders",
      "public.*",
      "public.log_?",
      "a.b.c",
      ".t",
      "s.",
      'public."open',
      'public.""',
    ])
      expect(parseExactName(bad), bad).toBeNull();
    expect(parseExactName('public."log_*"')).toEqual({ schema: "public", name: "log_*" });
  });
});
