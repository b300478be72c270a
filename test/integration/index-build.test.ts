import { beforeAll, describe, expect, it } from "vitest";
import { connect, isTransient } from "../../src/db/index.js";
import { isPgferryError } from "../../src/errors/index.js";
import { buildTableIndexes } from "../../src/index-build/index.js";
import { raiseMaintenanceWorkMem } from "../../src/index-build/work-mem.js";
import type { PgferryEvent } from "../../src/progress/events.js";
import {
  DATA_SQL,
  EXCLUDED,
  freshPair,
  indexDefinitions,
  type Pair,
  type PreparedTarget,
  prepareTarget,
} from "../fixtures/schema/setup.js";
import { testPairs } from "../harness/pairs.js";
import { asOwner, asSuperuser } from "../harness/servers.js";

/** Tables of the resume tests: big has an index whose build takes a while (a sleeping function). */
const EXTRA_SCHEMA = `
create function app.slow_id(i int) returns int language plpgsql immutable as $$
begin
  perform pg_sleep(0.4);
  return i;
end
$$;
create table app.big (id int primary key, code text not null, v int);
create unique index big_code on app.big (code);
create index big_slow on app.big (app.slow_id(id)) where id <= 4;
create index big_v on app.big (v);
create index big_w on app.big (v, id);
create table app.people (id int primary key, email text not null unique);
`;
const EXTRA_DATA = `
insert into app.big select i, 'c' || i, i % 97 from generate_series(1, 3000) i;
insert into app.people values (1, 'a@example.com'), (2, 'b@example.com');
`;
const LATER_TABLES = ["app.big", "app.people"];

/** Index lines of the tables built in one test, minus what is not built by the index stage. */
function linesOf(lines: string[], tables: string[]): string[] {
  return lines.filter((l) => tables.some((t) => l.startsWith(`${t.split(".")[0]}.${t.split(".")[1]}`)));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function postData(pair: Pair, tableId: number) {
  return asSuperuser<{ name: string; kind: string; stage: string; done: boolean }>(
    pair.target,
    "select name, kind, stage, done from pgferry.post_data where table_id = $1 order by id",
    [tableId],
  );
}

describe.each(testPairs())("index stage, $source → $target", (p) => {
  let pair: Pair;
  let prepared: PreparedTarget;
  const id = (key: string) => prepared.tableIds.get(key)!;

  beforeAll(async () => {
    pair = await freshPair(p, EXTRA_SCHEMA + EXTRA_DATA);
    prepared = await prepareTarget(pair);
    await asOwner(pair.target, DATA_SQL + EXTRA_DATA.replace("'b@example.com'", "'a@example.com'"));
  });

  it("builds every table's keys and indexes exactly as on the source, then marks it indexed", async () => {
    const tables = [...prepared.tableIds.keys()].filter((k) => !LATER_TABLES.includes(k));
    const events: PgferryEvent[] = [];
    // Several tables at once, as the orchestrator's workers do, and two sessions per table.
    const results = await Promise.all(
      tables.map((t) =>
        buildTableIndexes(pair.targetInfo, pair.sourceInfo, id(t), { jobs: 2, emit: (e) => events.push(e) }),
      ),
    );
    expect(results.map((r) => [r.completed, r.deferred, r.mismatches])).toEqual(
      tables.map(() => [true, [], []]),
    );
    expect(events).toEqual([]);

    const excluded = EXCLUDED.map((e) => `${e.schema}.${e.name}`);
    const built = (l: string) =>
      !LATER_TABLES.some((t) => l.startsWith(`${t}_`)) &&
      !excluded.some((t) => l.startsWith(`${t}_`)) &&
      !l.startsWith("app.order_totals_account"); // a matview's index: built at cutover
    const [src, tgt] = await Promise.all([indexDefinitions(pair.source), indexDefinitions(pair.target)]);
    expect(tgt.filter(built)).toEqual(src.filter(built));
    expect(tgt.filter(built)).toHaveLength(25);

    const phases = await asSuperuser<{ key: string; phase: string; indexed: boolean }>(
      pair.target,
      "select schema_name || '.' || table_name as key, phase, indexed_at is not null as indexed from pgferry.tables order by id",
    );
    for (const t of phases) {
      expect(t, t.key).toEqual({
        key: t.key,
        phase: LATER_TABLES.includes(t.key) ? "copied" : "indexed",
        indexed: !LATER_TABLES.includes(t.key),
      });
    }
    const pending = await asSuperuser(
      pair.target,
      "select name from pgferry.post_data where stage = 'index' and not done and table_id <> all ($1::int[])",
      [LATER_TABLES.map(id)],
    );
    expect(pending).toEqual([]);
    const analyzed = await asSuperuser<{ n: number }>(
      pair.target,
      "select count(*)::int as n from pg_stats where schemaname = 'app' and tablename in ('accounts', 'events_2024')",
    );
    expect(analyzed[0]!.n).toBeGreaterThan(5);
    const extras = await asSuperuser(
      pair.target,
      `select (select indisclustered from pg_index where indexrelid = 'app.invoices_pkey'::regclass) as clustered,
              (select count(*)::int from pg_statistic_ext where stxname = 'order_stats') as stats,
              (select count(*)::int from pg_trigger where not tgisinternal) as triggers,
              (select count(*)::int from pg_constraint where contype = 'f' and connamespace <> 'pgferry'::regnamespace) as fks`,
    );
    expect(extras).toEqual([{ clustered: true, stats: 1, triggers: 0, fks: 0 }]);
  });

  it("resumes a build killed in the middle without redoing finished items", async () => {
    const big = id("app.big");
    const running = buildTableIndexes(pair.targetInfo, pair.sourceInfo, big);
    const failed = running.then(
      () => undefined,
      (err: unknown) => err,
    );
    const pid = await waitFor("the slow index build", async () => {
      const rows = await asSuperuser<{ pid: number }>(
        pair.target,
        "select pid from pg_stat_activity where application_name = 'pgferry:index' and state = 'active' and query like 'CREATE INDEX big_slow%'",
      );
      return rows[0]?.pid;
    });
    await asSuperuser(pair.target, "select pg_terminate_backend($1)", [pid]);
    const err = await failed;
    expect(isTransient(err)).toBe(true);

    // The finished index stays done; the key's index was committed ahead of its constraint;
    // the interrupted one left nothing behind.
    expect((await postData(pair, big)).filter((r) => r.done).map((r) => r.name)).toEqual(["big_code"]);
    const present = await asSuperuser<{ relname: string }>(
      pair.target,
      "select c.relname from pg_index x join pg_class c on c.oid = x.indexrelid where x.indrelid = 'app.big'::regclass order by 1",
    );
    expect(present.map((r) => r.relname)).toEqual(["big_code", "big_pkey"]);
    // Something else by the name of a pending index (a hand-made attempt): dropped and rebuilt.
    await asOwner(pair.target, "create index big_v on app.big (code)");

    const events: PgferryEvent[] = [];
    const result = await buildTableIndexes(pair.targetInfo, pair.sourceInfo, big, {
      emit: (e) => events.push(e),
    });
    expect(result).toMatchObject({ completed: true, built: 4, reused: 1, deferred: [], mismatches: [] });
    expect(events.map((e) => (e.type === "log" ? e.message : e.type))).toEqual([
      "Dropped a leftover index big_v on app.big to rebuild it.",
    ]);
    const [src, tgt] = await Promise.all([indexDefinitions(pair.source), indexDefinitions(pair.target)]);
    expect(linesOf(tgt, ["app.big"])).toEqual(linesOf(src, ["app.big"]));
    expect((await postData(pair, big)).every((r) => r.done)).toBe(true);
    const phase = await asSuperuser(pair.target, "select phase from pgferry.tables where id = $1", [big]);
    expect(phase).toEqual([{ phase: "indexed" }]);
  });

  it("holds back a unique index that meets duplicates the stream has yet to resolve", async () => {
    const people = id("app.people");
    const stopped = new AbortController();
    stopped.abort();
    const early = await buildTableIndexes(pair.targetInfo, pair.sourceInfo, people, {
      signal: stopped.signal,
    });
    expect(early).toMatchObject({ completed: false, built: 0 });
    expect((await postData(pair, people)).some((r) => r.done)).toBe(false);

    const events: PgferryEvent[] = [];
    const result = await buildTableIndexes(pair.targetInfo, pair.sourceInfo, people, {
      emit: (e) => events.push(e),
    });
    expect(result).toMatchObject({ completed: true, deferred: ["people_email_key"], mismatches: [] });
    expect(await postData(pair, people)).toEqual([
      { name: "people_email_key", kind: "unique", stage: "cutover", done: false },
      { name: "people_pkey", kind: "primary_key", stage: "index", done: true },
    ]);
    expect(events).toHaveLength(1);
    const recorded = await asSuperuser(
      pair.target,
      "select level, kind from pgferry.events where kind = 'index:deferred'",
    );
    expect(recorded).toEqual([{ level: "warn", kind: "index:deferred" }]);
    const phase = await asSuperuser(pair.target, "select phase from pgferry.tables where id = $1", [people]);
    expect(phase).toEqual([{ phase: "indexed" }]);
  });

  it("raises maintenance_work_mem, bounded by the target's shared_buffers unless given", async () => {
    const c = await connect(pair.targetInfo, { stage: "index" });
    try {
      const bytes = async (sql: string) =>
        Number((await c.query(`select pg_size_bytes(${sql})::int8 as b`)).rows[0].b);
      const before = await bytes("current_setting('maintenance_work_mem')");
      const shared = await bytes("current_setting('shared_buffers')");
      const value = await raiseMaintenanceWorkMem(c, undefined);
      const now = await bytes("current_setting('maintenance_work_mem')");
      expect(value).toMatch(/^\d+kB$/);
      expect(now).toBe(Math.max(before, Math.min(512 * 2 ** 20, Math.max(shared, 64 * 2 ** 20))));
      expect(await raiseMaintenanceWorkMem(c, "300MB")).toBe("300MB");
      expect(await bytes("current_setting('maintenance_work_mem')")).toBe(300 * 2 ** 20);
      const err = await raiseMaintenanceWorkMem(c, "lots").catch((e: unknown) => e);
      expect(isPgferryError(err) && err.code).toBe("BAD_OPTION");
    } finally {
      await c.end();
    }
  });
});
