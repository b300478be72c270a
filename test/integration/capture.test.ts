import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ident, literal } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { installCapture, TEST_OWNER } from "../harness/capture.js";
import { testPairs } from "../harness/pairs.js";
import { asOwner, asSuperuser, ownerSession, sourceDb } from "../harness/servers.js";

const SCHEMA = `
create table public.items (id int primary key, note text);
create table public.pairs (a text, b bigint, note text, primary key (a, b));
create table public.parts (region text, id int, note text, primary key (region, id)) partition by list (region);
create table public.parts_eu partition of public.parts for values in ('eu');
insert into public.items select g, 'n' || g from generate_series(1, 3) g;`;

async function capturedSource(major: number): Promise<LocalDatabase> {
  const db = await sourceDb(major);
  await asOwner(db, SCHEMA);
  await installCapture(db, [
    { tableId: 1, name: "items", keyColumns: ["id"] },
    { tableId: 2, name: "pairs", keyColumns: ["a", "b"] },
    { tableId: 3, name: "parts", keyColumns: ["region", "id"], leaves: ["parts_eu"] },
  ]);
  return db;
}

interface LogRow {
  tbl: number;
  op: string;
  key: unknown;
}

/** The log rows written since `after` rows, in insertion order (the heap's, on a fresh table). */
async function logSince(db: LocalDatabase, after: number): Promise<LogRow[]> {
  const rows = await asOwner<LogRow>(
    db,
    "select tbl, op, key from pgferry.changes where tbl <> 0 order by ctid",
  );
  return rows.slice(after);
}

const sources = [...new Set(testPairs().map((p) => p.source))];

describe.each(sources)("capture triggers, PostgreSQL %i source", (major) => {
  it("log each changed key once per row change: old and new on a key update, truncates by relation", async () => {
    const db = await capturedSource(major);
    const app = await ownerSession(db, "app");
    try {
      let seen = 0;
      const next = async () => {
        const rows = await logSince(db, seen);
        seen += rows.length;
        return rows;
      };
      await app.query("insert into public.items values (10, 'ten'), (11, 'eleven')");
      expect(await next()).toEqual([
        { tbl: 1, op: "I", key: { id: 10 } },
        { tbl: 1, op: "I", key: { id: 11 } },
      ]);
      await app.query("update public.items set note = 'x' where id = 10");
      expect(await next()).toEqual([{ tbl: 1, op: "U", key: { id: 10 } }]);
      await app.query("update public.items set id = 20 where id = 11");
      expect(await next()).toEqual([
        { tbl: 1, op: "U", key: { id: 20 } },
        { tbl: 1, op: "U", key: { id: 11 } },
      ]);
      await app.query("update public.pairs set b = b where false");
      await app.query("insert into public.pairs values ('k', 1, 'one')");
      await app.query("update public.pairs set a = 'j' where a = 'k'");
      await app.query("delete from public.pairs");
      expect(await next()).toEqual([
        { tbl: 2, op: "I", key: { a: "k", b: 1 } },
        { tbl: 2, op: "U", key: { a: "j", b: 1 } },
        { tbl: 2, op: "U", key: { a: "k", b: 1 } },
        { tbl: 2, op: "D", key: { a: "j", b: 1 } },
      ]);
      // Rows reach a partition through the parent and directly; a leaf truncated alone says which.
      await app.query("insert into public.parts values ('eu', 1, 'a')");
      await app.query("insert into public.parts_eu values ('eu', 2, 'b')");
      await app.query("truncate public.parts_eu");
      await app.query("truncate public.items");
      expect(await next()).toEqual([
        { tbl: 3, op: "I", key: { region: "eu", id: 1 } },
        { tbl: 3, op: "I", key: { region: "eu", id: 2 } },
        { tbl: 3, op: "T", key: { schema: "public", name: "parts_eu" } },
        { tbl: 1, op: "T", key: null },
      ]);
      // A rolled-back change leaves nothing; pgferry's apply sessions (with the migration's
      // token) are not logged back. Any other value is an ordinary write (issue 17, item 6).
      await app.query("begin; insert into public.items values (30, 'x'); rollback");
      await app.query(
        `begin; set local pgferry.apply = ${literal(TEST_OWNER.token)}; insert into public.items values (31, 'y'); commit`,
      );
      expect(await next()).toEqual([]);
      await app.query(
        "begin; set local pgferry.apply = 'on'; insert into public.items values (32, 'z'); commit",
      );
      expect(await next()).toEqual([{ tbl: 1, op: "I", key: { id: 32 } }]);
    } finally {
      await app.end();
    }
  });

  it("as installed on the source, logs pgferry's apply sessions too (nothing applies into a live source)", async () => {
    const db = await capturedSource(major);
    await asOwner(db, "create table public.src_side (id int primary key)");
    await installCapture(db, [{ tableId: 5, name: "src_side", keyColumns: ["id"] }], {
      install: { skipApplySessions: false },
    });
    await asOwner(
      db,
      "begin; set local pgferry.apply = 'on'; insert into public.src_side values (1); commit",
    );
    expect(await logSince(db, 0)).toEqual([{ tbl: 5, op: "I", key: { id: 1 } }]);
  });

  it("captures a partition created after the triggers were installed", async () => {
    const db = await capturedSource(major);
    await asOwner(db, "create table public.parts_us partition of public.parts for values in ('us')");
    await asOwner(db, "insert into public.parts values ('us', 7, 'late')");
    await asOwner(db, "update public.parts_us set note = 'later'");
    expect(await logSince(db, 0)).toEqual([
      { tbl: 3, op: "I", key: { region: "us", id: 7 } },
      { tbl: 3, op: "U", key: { region: "us", id: 7 } },
    ]);
  });

  it("logs the writes of another role with no rights on schema pgferry, whatever its search_path", async () => {
    const db = await capturedSource(major);
    const role = `app_${randomBytes(4).toString("hex")}`;
    const password = randomBytes(12).toString("hex");
    await asSuperuser(db, `create role ${ident(role)} login password ${literal(password)}`);
    await asOwner(db, `grant select, insert, update, delete on public.items to ${ident(role)}`);
    // Decoys that an unqualified name in the capture function (which runs as the owner) would
    // pick up: a current_setting saying "apply session", an = that is always true.
    await asOwner(
      db,
      `create schema decoy; grant usage on schema decoy to ${ident(role)};
      create function decoy.current_setting(text, boolean) returns text language sql as $$ select 'on' $$;
      create function decoy.always(text, text) returns boolean language sql as $$ select true $$;
      create operator decoy.= (leftarg = text, rightarg = text, function = decoy.always);
      create function decoy.jsonb_build_object(text, int) returns jsonb language sql as $$ select '{"decoy": 1}'::jsonb $$;`,
    );
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    const other = await ownerSession({ url: url.toString() }, "other-role");
    try {
      await other.query("set search_path = decoy, pg_catalog, public");
      await other.query("insert into public.items values (40, 'forty')");
      await other.query("update public.items set id = 41 where id = 40");
      await other.query("delete from public.items where id = 41");
      const denied = await other
        .query("select count(*) from pgferry.changes")
        .catch((e: { code?: string }) => e);
      expect(denied).toMatchObject({ code: "42501" });
    } finally {
      await other.end();
    }
    expect(await logSince(db, 0)).toEqual([
      { tbl: 1, op: "I", key: { id: 40 } },
      { tbl: 1, op: "U", key: { id: 41 } },
      { tbl: 1, op: "U", key: { id: 40 } },
      { tbl: 1, op: "D", key: { id: 41 } },
    ]);
  });
});
