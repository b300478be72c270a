import type pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../src/db/index.js";
import { isPgferryError, type PgferryError } from "../../src/errors/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { applyPreData, type SchemaDump } from "../../src/schema/index.js";
import {
  freshPair,
  installSomeCapture,
  ownerClient,
  type Pair,
  type PreparedTarget,
  prepareTarget,
} from "../fixtures/schema/setup.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asSuperuser } from "../harness/servers.js";

const USER_SCHEMAS = "n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'pgferry')";
const EXCLUDED_NAMES = ["excluded_log", "Arch*ive", "Arch*ive_2024"];

/** The parts of a catalog the pre-data must reproduce, printed with an empty search_path. */
async function structure(db: LocalDatabase): Promise<Record<string, string[]>> {
  const c = await ownerClient(db);
  const lines = async (sql: string) => (await c.query<{ l: string }>(sql)).rows.map((r) => r.l);
  try {
    return {
      relations: await lines(
        `select n.nspname || '.' || c.relname || ':' || c.relkind::text as l from pg_catalog.pg_class c
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p', 'v', 'm', 'S', 'c') and ${USER_SCHEMAS} order by 1`,
      ),
      columns: await lines(
        `select n.nspname || '.' || c.relname || '.' || a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                || ' notnull=' || a.attnotnull || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text
                || ' default=' || coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '') as l
           from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace
           left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
          where c.relkind in ('r', 'p', 'v', 'm', 'c') and a.attnum > 0 and not a.attisdropped and ${USER_SCHEMAS}
          order by 1`,
      ),
      types: await lines(
        `select n.nspname || '.' || t.typname || ':' || t.typtype::text
                || coalesce(' ' || (select string_agg(e.enumlabel, ',' order by e.enumsortorder) from pg_catalog.pg_enum e where e.enumtypid = t.oid), '')
                || coalesce(' ' || (select string_agg(pg_catalog.pg_get_constraintdef(k.oid), ',') from pg_catalog.pg_constraint k where k.contypid = t.oid), '') as l
           from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
          where t.typtype in ('e', 'd', 'c') and ${USER_SCHEMAS} and n.nspname <> 'heroku_ext'
            and not exists (select 1 from pg_catalog.pg_class r where r.oid = t.typrelid and r.relkind <> 'c')
          order by 1`,
      ),
      sequences: await lines(
        `select schemaname || '.' || sequencename || ' ' || data_type::text || ' ' || increment_by as l
           from pg_catalog.pg_sequences where schemaname <> 'pgferry' order by 1`,
      ),
      extensions: await lines(
        `select e.extname || '@' || n.nspname as l from pg_catalog.pg_extension e
           join pg_catalog.pg_namespace n on n.oid = e.extnamespace where e.extname <> 'plpgsql' order by 1`,
      ),
    };
  } finally {
    await c.end();
  }
}

/** Post-data objects that must NOT be on the target before the copy. */
async function postDataObjects(db: LocalDatabase): Promise<string[]> {
  const c = await ownerClient(db);
  try {
    const { rows } = await c.query<{ l: string }>(
      `select 'index ' || ic.relname as l from pg_catalog.pg_index x join pg_catalog.pg_class ic on ic.oid = x.indexrelid
         join pg_catalog.pg_namespace n on n.oid = ic.relnamespace where ${USER_SCHEMAS}
       union all
       select 'constraint ' || k.conname from pg_catalog.pg_constraint k join pg_catalog.pg_namespace n on n.oid = k.connamespace
        where k.contype in ('p', 'u', 'f', 'x') and ${USER_SCHEMAS}
       union all
       select 'trigger ' || tgname from pg_catalog.pg_trigger where not tgisinternal
       union all
       select 'policy ' || polname from pg_catalog.pg_policy
       union all
       select 'rule ' || r.rulename from pg_catalog.pg_rewrite r join pg_catalog.pg_class c on c.oid = r.ev_class
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace where r.rulename <> '_RETURN' and ${USER_SCHEMAS}
       union all
       select 'row security ' || c.relname from pg_catalog.pg_class c where c.relrowsecurity
       union all
       select 'statistics ' || stxname from pg_catalog.pg_statistic_ext`,
    );
    return rows.map((r) => r.l);
  } finally {
    await c.end();
  }
}

async function applyError(target: pg.Client, dump: SchemaDump): Promise<PgferryError> {
  await target.query("begin");
  try {
    await applyPreData(target, dump);
  } catch (err) {
    if (isPgferryError(err)) return err;
    throw err;
  } finally {
    await target.query("rollback");
  }
  throw new Error("applyPreData did not fail");
}

describe.each(testPairs())("schema stage, $source → $target", (p) => {
  let pair: Pair;
  let prepared: PreparedTarget;

  beforeAll(async () => {
    pair = await freshPair(p);
    await installSomeCapture(pair);
    prepared = await prepareTarget(pair);
  });

  it(`dumps without pgferry's objects, excluded tables or the password (${pairLabel(p)})`, () => {
    const { dump } = prepared;
    expect(dump.extensions).toEqual([
      { name: "citext", schema: "heroku_ext" },
      { name: "pg_trgm", schema: "heroku_ext" },
    ]);
    const text = JSON.stringify(dump);
    expect(text).not.toContain(pair.source.password);
    expect(dump.preData).not.toMatch(/pgferry/);
    expect(dump.postData.filter((i) => /pgferry/.test(i.statement))).toEqual([]);
    for (const name of EXCLUDED_NAMES) expect(dump.preData).not.toContain(`"${name}"`);
    expect(dump.preData).not.toContain("excluded_log");
    expect(dump.preData).toContain('CREATE TABLE "Sales"."Archive"');
    expect(dump.skipped).toContainEqual({
      type: "FK CONSTRAINT",
      name: "audit audit_log_id_fkey",
      reason: "references app.excluded_log, which is excluded from the migration",
    });
  });

  it("gives the target every table, column and type, and none of the post-data", async () => {
    const [src, tgt] = await Promise.all([structure(pair.source), structure(pair.target)]);
    const kept = (l: string) => !EXCLUDED_NAMES.some((n) => l.includes(`.${n}:`) || l.includes(`.${n}.`));
    expect(tgt.relations).toEqual(src.relations!.filter(kept));
    expect(tgt.columns).toEqual(src.columns!.filter(kept));
    expect(tgt.types).toEqual(src.types!.filter((l) => !EXCLUDED_NAMES.some((n) => l.includes(`.${n}:`))));
    expect(tgt.sequences).toEqual(src.sequences);
    expect(tgt.extensions).toEqual(["citext@heroku_ext", "pg_trgm@heroku_ext"]);
    expect(tgt.types).toContain("app.mood:e sad,ok,happy");
    expect(tgt.relations).toContain("Sales.Order:r");
    expect(await postDataObjects(pair.target)).toEqual([]);
    const matview = await asSuperuser(
      pair.target,
      "select relispopulated from pg_class where oid = 'app.order_totals'::regclass",
    );
    expect(matview).toEqual([{ relispopulated: false }]);
  });

  it("stores post-data items per root table with the right stage", async () => {
    const id = (key: string) => prepared.tableIds.get(key) ?? null;
    const rows = await asSuperuser<{
      kind: string;
      name: string;
      stage: string;
      table_id: number | null;
      done: boolean;
    }>(pair.target, "select kind, name, stage, table_id, done from pgferry.post_data order by id");
    const find = (name: string, kind?: string) =>
      rows.filter((r) => r.name === name && (!kind || r.kind === kind));
    expect(find("Order_pkey")).toEqual([
      { kind: "primary_key", name: "Order_pkey", stage: "index", table_id: id("Sales.Order"), done: false },
    ]);
    expect(find("events_2024_pkey", "primary_key")[0]).toMatchObject({
      stage: "index",
      table_id: id("app.events"),
    });
    expect(find("events_2024_id_only")[0]).toMatchObject({
      kind: "index",
      stage: "index",
      table_id: id("app.events"),
    });
    expect(find("invoices_order_id_fkey")[0]).toMatchObject({ kind: "foreign_key", stage: "cutover" });
    expect(find("order_touch")[0]).toMatchObject({
      kind: "trigger",
      stage: "cutover",
      table_id: id("Sales.Order"),
    });
    expect(find("own_rows")[0]).toMatchObject({ kind: "other", stage: "cutover" });
    expect(find("order_totals_account")[0]).toMatchObject({
      kind: "index",
      stage: "cutover",
      table_id: null,
    });
    expect(find("order_totals")[0]).toMatchObject({
      kind: "matview_refresh",
      stage: "cutover",
      table_id: null,
    });
    expect(rows.filter((r) => r.name.startsWith("pgferry_") || r.name.includes("excluded_log"))).toEqual([]);
    expect(rows.filter((r) => r.stage === "index" && r.table_id === null)).toEqual([]);
  });

  it("leaves the session's search_path as it was", async () => {
    const c = await connect(pair.targetInfo, { stage: "prepare" });
    try {
      const before = (await c.query("show search_path")).rows[0].search_path;
      // The dump's own preamble: statement_timeout, check_function_bodies, search_path = '' …
      const preamble = prepared.dump.preData.slice(0, prepared.dump.preData.indexOf("\n--\n"));
      expect(preamble).toContain("set_config('search_path', '', false)");
      await c.query("begin");
      await applyPreData(c, { extensions: [], preData: preamble, postData: [] });
      expect((await c.query("show search_path")).rows[0].search_path).toBe(before);
      await c.query("commit");
      expect((await c.query("show search_path")).rows[0].search_path).toBe(before);
    } finally {
      await c.end();
    }
  });

  it("names the extension and the fix when the target role cannot create it", async () => {
    const c = await connect(pair.targetInfo, { stage: "prepare" });
    try {
      const untrusted = await applyError(c, {
        extensions: [{ name: "file_fdw", schema: "ext" }],
        preData: "",
        postData: [],
      });
      expect(untrusted.code).toBe("SCHEMA_APPLY_FAILED");
      expect(untrusted.message).toMatch(/may not create extension "file_fdw"/);
      expect(untrusted.hint).toContain('CREATE EXTENSION IF NOT EXISTS "file_fdw" WITH SCHEMA "ext"');
      const missing = await applyError(c, {
        extensions: [{ name: "no_such_extension", schema: "public" }],
        preData: "",
        postData: [],
      });
      expect(missing.message).toMatch(/"no_such_extension" is not available on the target/);
      const elsewhere = await applyError(c, {
        extensions: [{ name: "citext", schema: "public" }],
        preData: "",
        postData: [],
      });
      expect(elsewhere.hint).toContain('ALTER EXTENSION "citext" SET SCHEMA "public"');
      const bad = await applyError(c, {
        extensions: [],
        preData:
          "--\n-- Name: t; Type: TABLE; Schema: app; Owner: -\n--\n\nCREATE TABLE app.t (x app.nope);\n",
        postData: [],
      });
      expect(bad.message).toMatch(/^The target rejected TABLE app\.t: type "app\.nope" does not exist/);
      // Nothing stayed behind: each attempt was rolled back.
      expect(
        (await c.query("select count(*)::int as n from pg_namespace where nspname = 'ext'")).rows[0].n,
      ).toBe(0);
    } finally {
      await c.end();
    }
  });
});
