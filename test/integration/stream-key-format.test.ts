import type pg from "pg";
import { describe, expect, it } from "vitest";
import { FENCE_DOWN_SQL, FENCE_UP_SQL } from "../../src/capture/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { catchUp, installReverseCapture, runStream } from "../../src/stream/index.js";
import { installCapture } from "../harness/capture.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { setupStream } from "../harness/stream-setup.js";
import { streamContext, waitCaughtUp } from "../harness/stream-wait.js";

/**
 * Keys whose text output depends on the writing session's settings. Neighbouring values in
 * each table print alike under some setting an application may use: 0.3 and
 * 0.30000000000000004 with extra_float_digits = 0; '-1 day -2 hours' and '-1 day +2 hours'
 * with IntervalStyle = sql_standard (which prints the first as '-1 2:00:00', the second read
 * back); ranges of dates with DateStyle = 'SQL, DMY' (read back as month first); two instants
 * an hour apart that Europe/Moscow shows as the same '26/10/2014 01:30:00 MSK'.
 */
const TABLES = `
create schema fk;
create domain fk.real8 as float8;
create table fk.f8 (k float8 primary key, n int not null default 0);
create table fk.f4 (k float4 primary key, n int not null default 0);
create table fk.comp (a float8, b int, n int not null default 0, primary key (a, b));
create table fk.dom (k fk.real8 primary key, n int not null default 0);
create table fk.arr (k float8[] primary key, n int not null default 0);
create table fk.iv (k interval primary key, n int not null default 0);
create table fk.dr (k daterange primary key, n int not null default 0);
create table fk.tz (k timestamptz primary key, n int not null default 0);`;

const FLOATS = ["0.3", "0.30000000000000004", "1::float8/3", "1e-310", "2e-310", "1.0000000000000002", "100"];

const ROWS = `
insert into fk.f8 (k) values ${FLOATS.map((v) => `((${v})::float8)`).join(", ")};
insert into fk.f4 (k) values (0.1), (0.10000001), (1::float4/3), (1e-40), (16777216), (16777218);
insert into fk.comp (a, b) select (v.x)::float8, b from (values ${FLOATS.map((v) => `((${v})::float8)`).join(", ")}) v(x), generate_series(1, 2) b;
insert into fk.dom (k) select k from fk.f8;
insert into fk.arr (k) select array[k, 1] from fk.f8;
insert into fk.iv (k) values ('-1 day -2 hours'), ('-1 day +2 hours'), ('1 year -1 day'), ('-1 year +1 month');
insert into fk.dr (k) values ('[2020-01-02,2020-02-03)'), ('[2020-02-01,2020-03-02)'), ('[2021-03-04,2021-05-06)');
insert into fk.tz (k) values ('2014-10-25 21:30:00+00'), ('2014-10-25 20:00:00+00'), ('2014-10-25 23:00:00+00');`;

/**
 * The application's writes: row updates, key updates (each key moving to a neighbour that
 * prints alike) and deletes on every table, and a few inserts.
 */
const WRITES = [
  [
    "update fk.f8 set n = n + 1 where k = 0.1::float8 + 0.2::float8",
    "update fk.f8 set k = 1.0000000000000004 where k = 1.0000000000000002",
    "delete from fk.f8 where k = 1::float8/3",
    "insert into fk.f8 (k) values (2.0000000000000004) on conflict do nothing",
    "update fk.f8 set k = 3e-310 where k = 2e-310",
  ],
  [
    "update fk.f4 set n = n + 1 where k = 0.10000001::float4",
    "update fk.f4 set k = 16777220 where k = 16777218",
    "delete from fk.f4 where k = 1::float4/3",
    "update fk.f4 set n = n + 1 where k = 1e-40::float4",
  ],
  [
    "update fk.comp set n = n + 1 where a = 0.1::float8 + 0.2::float8 and b = 1",
    "update fk.comp set a = 1.0000000000000004 where a = 1.0000000000000002 and b = 2",
    "delete from fk.comp where a = 1::float8/3",
  ],
  [
    "update fk.dom set n = n + 1 where k = 0.1::float8 + 0.2::float8",
    "update fk.dom set k = 1.0000000000000004 where k = 1.0000000000000002",
    "delete from fk.dom where k = 1::float8/3",
  ],
  [
    "update fk.arr set n = n + 1 where k = array[0.1::float8 + 0.2::float8, 1]",
    "update fk.arr set k = array[1.0000000000000004::float8, 1] where k = array[1.0000000000000002::float8, 1]",
    "delete from fk.arr where k = array[1::float8/3, 1]",
  ],
  [
    "update fk.iv set n = n + 1 where k = '-1 day -2 hours'",
    "update fk.iv set k = '-1 year -1 month' where k = '-1 year +1 month'",
    "delete from fk.iv where k = '1 year -1 day'",
  ],
  [
    "update fk.dr set n = n + 1 where k = '[2020-01-02,2020-02-03)'",
    "delete from fk.dr where k = '[2021-03-04,2021-05-06)'",
    "insert into fk.dr (k) values ('[2022-04-05,2022-06-07)') on conflict do nothing",
  ],
  // 21:30 and 22:30 UTC are both 01:30 MSK (+04, then +03 after the clocks went back).
  ["update fk.tz set k = '2014-10-25 22:30:00+00' where k = '2014-10-25 21:30:00+00'"],
];

/** Settings of an application session under which those keys print ambiguously. */
const AMBIGUOUS = [
  "set extra_float_digits = 0",
  "set IntervalStyle = sql_standard",
  "set DateStyle = 'SQL, DMY'",
  "set TimeZone = 'Europe/Moscow'",
];

async function appSession(db: LocalDatabase, settings: readonly string[]): Promise<pg.Client> {
  const app = await ownerSession(db, "app");
  for (const s of settings) await app.query(s);
  return app;
}

async function write(db: LocalDatabase, settings: readonly string[]): Promise<void> {
  const app = await appSession(db, settings);
  try {
    for (const txn of WRITES) await app.query(`begin; ${txn.join("; ")}; commit`);
  } finally {
    await app.end();
  }
}

async function prepared(pair: { source: number; target: number }) {
  const source = await sourceDb(pair.source);
  const target = await targetDb(pair.target);
  await asOwner(source, TABLES);
  await asOwner(target, TABLES);
  await asOwner(source, ROWS);
  const setup = await setupStream(source, target, ["fk"]);
  await setup.copyAll();
  return { source, target };
}

describe.each(testPairs())("keys whose text depends on session settings %#", (pair) => {
  it(`are logged exactly whatever the writer's settings (${pairLabel(pair)})`, async () => {
    const { source, target } = await prepared(pair);
    // A fence raised and lowered again (a cutover given up) keeps the functions' settings.
    await asOwner(source, FENCE_UP_SQL);
    await asOwner(source, FENCE_DOWN_SQL);
    const stop = new AbortController();
    const ctx = streamContext(source, target, stop.signal);
    const running = runStream(ctx, { windowIntervalMs: 100, statusIntervalMs: 300 });
    try {
      await write(source, AMBIGUOUS);
      await waitCaughtUp(source, target);
      await assertSameContents(source, target);
      // Default settings (extra_float_digits = 1 on 12 and later): the same changes again, on
      // what the first round left.
      await asOwner(source, "update fk.f8 set k = 1.0000000000000002 where k = 1.0000000000000004");
      await write(source, []);
      await waitCaughtUp(source, target);
      await assertSameContents(source, target);
    } finally {
      stop.abort();
      await running;
    }
  });

  it(`are logged exactly by the target's capture in the rollback window (${pairLabel(pair)})`, async () => {
    const { source, target } = await prepared(pair);
    const ctx = streamContext(source, target);
    await asOwner(source, FENCE_UP_SQL);
    await catchUp(ctx);
    await asOwner(target, "update pgferry.migration set phase = 'switched'");
    await installReverseCapture(ctx);
    await write(target, AMBIGUOUS);
    const back = await catchUp(streamContext(source, target), { direction: "reverse" });
    expect(back.changes).toBeGreaterThan(0);
    await assertSameContents(source, target);
  });
});

/** One table per key type: its key's type, and the settings its row capture functions must pin. */
const KEY_TYPES: [string, string, string[]][] = [
  ["int8", "int8", []],
  ["text", "text", []],
  ["uuid", "uuid", []],
  ["numeric", "numeric", []],
  ["bytea", "bytea", []],
  ["date", "date", []],
  ["timestamptz", "timestamptz", []],
  ["tsarr", "timestamp[]", []],
  ["float8", "float8", ["extra_float_digits=3"]],
  ["float4", "real", ["extra_float_digits=3"]],
  ["domain", "kt.real8", ["extra_float_digits=3"]],
  ["domarr", "kt.real8[]", ["extra_float_digits=3"]],
  ["comp", "kt.pt", ["extra_float_digits=3"]],
  ["frange", "kt.frange", ["extra_float_digits=3"]],
  ["interval", "interval", ["IntervalStyle=postgres"]],
  ["daterange", "daterange", ["DateStyle=ISO, YMD"]],
  ["tstzrange", "tstzrange", ["DateStyle=ISO, YMD"]],
  ["money", "money", ["lc_monetary=C"]],
  ["regclass", "regclass", ["search_path=pg_catalog"]],
];

const sources = [...new Set(testPairs().map((p) => p.source))];

describe.each(sources)("the capture of a PostgreSQL %i source", (major) => {
  it("pins settings on the row functions of exactly the keys that need them", async () => {
    const db = await sourceDb(major);
    const multirange: [string, string, string[]][] =
      major >= 14 ? [["datemulti", "datemultirange", ["DateStyle=ISO, YMD"]]] : [];
    const types = [...KEY_TYPES, ...multirange];
    await asOwner(
      db,
      `create schema kt;
       create domain kt.real8 as float8;
       create type kt.pt as (x int, y float8);
       create type kt.frange as range (subtype = float8);
       ${types.map(([name, type]) => `create table kt.t_${name} (id int, k ${type}, primary key (id, k));`).join("\n")}`,
    );
    await installCapture(
      db,
      types.map(([name], i) => ({
        tableId: i + 1,
        schema: "kt",
        name: `t_${name}`,
        keyColumns: ["id", "k"],
      })),
    );
    const rows = await asOwner<{ name: string; config: string[] | null }>(
      db,
      "select proname::text as name, proconfig as config from pg_proc where pronamespace = 'pgferry'::regnamespace and proname like 'capture%'",
    );
    const config = new Map(rows.map((r) => [r.name, r.config ?? []]));
    for (const [i, [name, , pinned]] of types.entries()) {
      for (const op of ["ins", "upd", "del"])
        expect(config.get(`capture_${i + 1}_${op}`), name).toEqual(pinned);
      expect(config.get(`capture_${i + 1}_trunc`), name).toEqual([]);
    }
    expect(config.get("capture_0_ins")).toEqual([]);
  });
});
