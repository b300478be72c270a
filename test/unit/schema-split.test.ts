import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { constraintAsIndex } from "../../src/schema/constraint-index.js";
import { splitDump } from "../../src/schema/dump-text.js";
import { classifyPostData } from "../../src/schema/post-data.js";
import { preparePreData } from "../../src/schema/pre-data.js";
import { exactTablePattern } from "../../src/schema/run-pg-dump.js";
import { splitStatements, tokenize } from "../../src/schema/sql-lexer.js";

// Captured from pg_dump 15 against test/fixtures/schema/heroku-source.sql on PostgreSQL 15,
// with pgferry's capture triggers installed on "Sales"."Order" and app.events (and its leaves).
const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/schema");
const PRE = readFileSync(path.join(FIXTURES, "pg15-pre-data.sql"), "utf8");
const POST = readFileSync(path.join(FIXTURES, "pg15-post-data.sql"), "utf8");

const events = { schema: "app", name: "events" };
const archive = { schema: "Sales", name: "Arch*ive" };
const CONTEXT = {
  partitionRoot: new Map([
    ["app.events_2024", events],
    ["app.events_2025", events],
    ["Sales.Arch*ive_2024", archive],
  ]),
  matviews: new Set(["app.order_totals"]),
  excluded: new Set(["app.excluded_log", "Sales.Arch*ive", "Sales.Arch*ive_2024"]),
};

describe("the SQL lexer", () => {
  it("cuts statements only at top-level semicolons", () => {
    const sql = [
      "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$ begin return ';'; end $body$",
      "SELECT 'it''s; fine', E'back\\'slash;', \"odd;name\" FROM t -- trailing; comment\n",
      "/* outer /* nested; */ still comment; */ SELECT 2",
      "SELECT $$a;b$$",
    ].join(";\n");
    expect(splitStatements(`${sql};`)).toEqual([
      "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$ begin return ';'; end $body$",
      "SELECT 'it''s; fine', E'back\\'slash;', \"odd;name\" FROM t -- trailing; comment",
      "/* outer /* nested; */ still comment; */ SELECT 2",
      "SELECT $$a;b$$",
    ]);
    expect(splitStatements("SELECT 1 -- only; a comment")).toEqual(["SELECT 1 -- only; a comment"]);
  });

  it("reads quoted identifiers with their embedded quotes", () => {
    const words = tokenize('ALTER TABLE ONLY app."Odd ""Name""; x" ADD').map((t) => [t.type, t.value]);
    expect(words).toEqual([
      ["word", "alter"],
      ["word", "table"],
      ["word", "only"],
      ["word", "app"],
      ["punct", "."],
      ["quoted", 'Odd "Name"; x'],
      ["word", "add"],
    ]);
  });
});

describe("splitDump", () => {
  it("cuts a real dump into its entries and drops psql meta-commands", () => {
    const { preamble, entries } = splitDump(POST);
    expect(preamble).toContain("SELECT pg_catalog.set_config('search_path', '', false);");
    expect(preamble).not.toMatch(/\\restrict/);
    expect(entries.map((e) => e.sql).join("\n")).not.toMatch(/^\\/m);
    expect(entries).toHaveLength(63);
    expect(entries[0]).toMatchObject({ tag: "Arch*ive Arch*ive_pkey", type: "CONSTRAINT", schema: "Sales" });
    expect(entries.find((e) => e.tag === "Odd Name; x Odd Name; x_pkey")).toMatchObject({
      type: "CONSTRAINT",
      schema: "app",
    });
  });

  it("does not cut inside a function body that contains a header-like comment", () => {
    const body = "\n--\n-- Name: fake; Type: INDEX; Schema: app; Owner: -\n--\n";
    const text = `SET x = 1;\n\n--\n-- Name: f(); Type: FUNCTION; Schema: app; Owner: -\n--\n\nCREATE FUNCTION app.f() RETURNS int AS $$${body}select 1$$ LANGUAGE sql;\n`;
    const { entries } = splitDump(text);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.sql).toContain("Name: fake; Type: INDEX");
  });
});

describe("preparePreData", () => {
  const pre = preparePreData(PRE);

  it("takes the extensions out, to be created first", () => {
    expect(pre.extensions).toEqual([
      { name: "citext", schema: "heroku_ext" },
      { name: "pg_trgm", schema: "heroku_ext" },
    ]);
    expect(pre.text).not.toMatch(/CREATE EXTENSION/i);
  });

  it("drops COMMENT ON EXTENSION and makes CREATE SCHEMA idempotent", () => {
    expect(pre.text).not.toMatch(/COMMENT ON EXTENSION/i);
    expect(pre.skipped.map((s) => s.name)).toEqual(["EXTENSION citext", "EXTENSION pg_trgm"]);
    expect(pre.text).toContain("CREATE SCHEMA IF NOT EXISTS heroku_ext;");
    expect(pre.text).toContain('CREATE SCHEMA IF NOT EXISTS "Sales";');
    expect(pre.text).not.toMatch(/^CREATE SCHEMA (?!IF NOT EXISTS)/m);
  });

  it("lists materialized views and keeps everything else, splittable again", () => {
    expect(pre.matviews).toEqual([{ schema: "app", name: "order_totals" }]);
    const again = splitDump(pre.text).entries.map((e) => `${e.type} ${e.tag}`);
    const original = splitDump(PRE)
      .entries.filter((e) => e.type !== "EXTENSION" && !e.tag.startsWith("EXTENSION "))
      .map((e) => `${e.type} ${e.tag}`);
    expect(again).toEqual(original);
    expect(pre.text).not.toContain("pgferry");
  });
});

describe("classifyPostData", () => {
  const result = classifyPostData(POST, CONTEXT);
  const rows = result.items.map((i) => [
    i.dumpType,
    i.kind,
    i.stage,
    i.name,
    i.table && `${i.tableSchema}.${i.table}`,
    i.relation && `${i.relation.schema}.${i.relation.name}`,
  ]);

  it("classifies every entry of a real dump", () => {
    expect(rows).toEqual([
      ["CONSTRAINT", "primary_key", "index", "Archive_pkey", "Sales.Archive", "Sales.Archive"],
      ["CONSTRAINT", "primary_key", "index", "Order_pkey", "Sales.Order", "Sales.Order"],
      ["CONSTRAINT", "primary_key", "index", "Odd Name; x_pkey", "app.Odd Name; x", "app.Odd Name; x"],
      ["CONSTRAINT", "unique", "index", "accounts_email_key", "app.accounts", "app.accounts"],
      ["CONSTRAINT", "unique", "index", "accounts_name_uq", "app.accounts", "app.accounts"],
      ["CONSTRAINT", "primary_key", "index", "accounts_pkey", "app.accounts", "app.accounts"],
      ["CHECK CONSTRAINT", "other", "cutover", "accounts_score_chk", "app.accounts", "app.accounts"],
      ["CONSTRAINT", "primary_key", "index", "audit_pkey", "app.audit", "app.audit"],
      ["CONSTRAINT", "primary_key", "index", "events_pkey", "app.events", "app.events"],
      ["CONSTRAINT", "primary_key", "index", "events_2024_pkey", "app.events", "app.events_2024"],
      ["CONSTRAINT", "primary_key", "index", "events_2025_pkey", "app.events", "app.events_2025"],
      ["CONSTRAINT", "primary_key", "index", "invoices_pkey", "app.invoices", "app.invoices"],
      ["CONSTRAINT", "other", "index", "rooms_code_excl", "app.rooms", "app.rooms"],
      ["CONSTRAINT", "primary_key", "index", "rooms_pkey", "app.rooms", "app.rooms"],
      ["CONSTRAINT", "unique", "index", "tags_name_key", "app.tags", "app.tags"],
      ["INDEX", "index", "index", "Order_select_idx", "Sales.Order", "Sales.Order"],
      ["COMMENT", "other", "cutover", 'INDEX "Order_select_idx"', "Sales.Order", "Sales.Order"],
      ["INDEX", "index", "index", "orders_note_trgm", "Sales.Order", "Sales.Order"],
      ["INDEX", "index", "index", "events_happened_at_idx", "app.events", "app.events"],
      ["INDEX", "index", "index", "events_2024_happened_at_idx", "app.events", "app.events_2024"],
      ["INDEX", "index", "index", "events_2024_id_only", "app.events", "app.events_2024"],
      ["INDEX", "index", "index", "events_payload_idx", "app.events", "app.events"],
      ["INDEX", "index", "index", "events_2024_payload_idx", "app.events", "app.events_2024"],
      ["INDEX", "index", "index", "events_2025_happened_at_idx", "app.events", "app.events_2025"],
      ["INDEX", "index", "index", "events_2025_payload_idx", "app.events", "app.events_2025"],
      ["INDEX", "index", "index", "invoices_order_amount", "app.invoices", "app.invoices"],
      ["INDEX", "index", "index", "odd idx", "app.Odd Name; x", "app.Odd Name; x"],
      ["INDEX", "index", "cutover", "order_totals_account", null, "app.order_totals"],
      ["INDEX ATTACH", "index", "index", "events_2024_happened_at_idx", "app.events", "app.events_2024"],
      ["INDEX ATTACH", "index", "index", "events_2024_payload_idx", "app.events", "app.events_2024"],
      ["INDEX ATTACH", "index", "index", "events_2024_pkey", "app.events", "app.events_2024"],
      ["INDEX ATTACH", "index", "index", "events_2025_happened_at_idx", "app.events", "app.events_2025"],
      ["INDEX ATTACH", "index", "index", "events_2025_payload_idx", "app.events", "app.events_2025"],
      ["INDEX ATTACH", "index", "index", "events_2025_pkey", "app.events", "app.events_2025"],
      ["STATISTICS", "other", "index", "order_stats", "Sales.Order", "Sales.Order"],
      ["RULE", "other", "cutover", "tags_no_delete", "app.tags", "app.tags"],
      ["TRIGGER", "trigger", "cutover", "order_touch", "Sales.Order", "Sales.Order"],
      ["FK CONSTRAINT", "foreign_key", "cutover", "Order_account_id_fkey", "Sales.Order", "Sales.Order"],
      ["FK CONSTRAINT", "foreign_key", "cutover", "invoices_order_id_fkey", "app.invoices", "app.invoices"],
      ["ROW SECURITY", "other", "cutover", "row level security", "app.accounts", "app.accounts"],
      ["POLICY", "other", "cutover", "own_rows", "app.accounts", "app.accounts"],
    ]);
    expect(result.warnings).toEqual([]);
  });

  it("never carries pgferry's capture triggers", () => {
    expect(POST).toContain("pgferry_capture_ins");
    expect(result.items.filter((i) => /pgferry/.test(i.statement))).toEqual([]);
    expect(result.skipped.filter((s) => /pgferry/.test(s.name))).toEqual([]);
  });

  it("leaves out what belongs to or points at excluded tables, saying why", () => {
    expect(result.skipped).toEqual([
      {
        type: "CONSTRAINT",
        name: "Arch*ive Arch*ive_pkey",
        reason: "Sales.Arch*ive is excluded from the migration",
      },
      {
        type: "CONSTRAINT",
        name: "Arch*ive_2024 Arch*ive_2024_pkey",
        reason: "Sales.Arch*ive is excluded from the migration",
      },
      {
        type: "CONSTRAINT",
        name: "excluded_log excluded_log_pkey",
        reason: "app.excluded_log is excluded from the migration",
      },
      {
        type: "INDEX ATTACH",
        name: "Arch*ive_2024_pkey",
        reason: "Sales.Arch*ive is excluded from the migration",
      },
      {
        type: "FK CONSTRAINT",
        name: "audit audit_log_id_fkey",
        reason: "references app.excluded_log, which is excluded from the migration",
      },
      {
        type: "FK CONSTRAINT",
        name: "excluded_log excluded_log_account_id_fkey",
        reason: "app.excluded_log is excluded from the migration",
      },
    ]);
  });

  it("keeps each entry's statements whole, without pg_dump's session SETs", () => {
    const invoices = result.items.find((i) => i.name === "invoices_pkey")!;
    expect(invoices.statement).toBe(
      "ALTER TABLE ONLY app.invoices\n    ADD CONSTRAINT invoices_pkey PRIMARY KEY (id);\n\nALTER TABLE app.invoices CLUSTER ON invoices_pkey;",
    );
    expect(result.items.every((i) => !/SET default_/.test(i.statement))).toBe(true);
    const attach = result.items.find((i) => i.dumpType === "INDEX ATTACH" && i.name === "events_2024_pkey")!;
    expect(attach.statement).toBe("ALTER INDEX app.events_pkey ATTACH PARTITION app.events_2024_pkey;");
  });

  it("turns keys into an index build and a USING INDEX attach", () => {
    const odd = result.items.find((i) => i.name === "Odd Name; x_pkey")!;
    expect(odd.indexStatement).toBe(
      'CREATE UNIQUE INDEX "Odd Name; x_pkey" ON app."Odd Name; x" USING btree (id)',
    );
    expect(odd.constraintStatement).toBe(
      'ALTER TABLE ONLY app."Odd Name; x" ADD CONSTRAINT "Odd Name; x_pkey" PRIMARY KEY USING INDEX "Odd Name; x_pkey";',
    );
    const excl = result.items.find((i) => i.name === "rooms_code_excl")!;
    expect(excl.indexStatement).toBeNull();
  });
});

describe("constraintAsIndex", () => {
  it("keeps INCLUDE, WITH, NULLS NOT DISTINCT and deferral, in pg_get_indexdef's order", () => {
    expect(
      constraintAsIndex(
        'ALTER TABLE ONLY s."T"\n    ADD CONSTRAINT "T_k" UNIQUE NULLS NOT DISTINCT (a, "B") INCLUDE (c) WITH (fillfactor=\'70\') DEFERRABLE INITIALLY DEFERRED;',
      ),
    ).toEqual({
      indexStatement:
        'CREATE UNIQUE INDEX "T_k" ON s."T" USING btree (a, "B") INCLUDE (c) NULLS NOT DISTINCT WITH (fillfactor=\'70\')',
      constraintStatement:
        'ALTER TABLE ONLY s."T" ADD CONSTRAINT "T_k" UNIQUE USING INDEX "T_k" DEFERRABLE INITIALLY DEFERRED;',
    });
  });

  it("carries the entry's follow-up statements", () => {
    expect(
      constraintAsIndex(
        "ALTER TABLE ONLY app.invoices\n    ADD CONSTRAINT invoices_pkey PRIMARY KEY (id);\n\nALTER TABLE app.invoices CLUSTER ON invoices_pkey;",
      )?.constraintStatement,
    ).toBe(
      "ALTER TABLE ONLY app.invoices ADD CONSTRAINT invoices_pkey PRIMARY KEY USING INDEX invoices_pkey;\nALTER TABLE app.invoices CLUSTER ON invoices_pkey;",
    );
  });

  it("declines what it cannot rewrite exactly", () => {
    expect(
      constraintAsIndex("ALTER TABLE ONLY a.b ADD CONSTRAINT x EXCLUDE USING btree (c WITH =);"),
    ).toBeUndefined();
    expect(
      constraintAsIndex(
        "ALTER TABLE ONLY a.b ADD CONSTRAINT x PRIMARY KEY (id) USING INDEX TABLESPACE fast;",
      ),
    ).toBeUndefined();
  });
});

describe("exactTablePattern", () => {
  it("quotes both parts so wildcards, dots and case are literal", () => {
    expect(exactTablePattern({ schema: "Sales", name: "Arch*ive" })).toBe('"Sales"."Arch*ive"');
    expect(exactTablePattern({ schema: "a.b", name: 'say "hi"' })).toBe('"a.b"."say ""hi"""');
  });
});
