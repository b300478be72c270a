import type pg from "pg";
import { describe, expect, it } from "vitest";
import { drainWriters, fenceState, lowerFence, raiseFence } from "../../src/cutover/fence.js";
import { connect, parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { installCapture } from "../harness/capture.js";
import { testPairs } from "../harness/pairs.js";
import { asOwner, ownerSession, sourceDb } from "../harness/servers.js";

const SCHEMA = `
create table public.items (id int primary key, note text);
create table public.parts (id int, region text, primary key (region, id)) partition by list (region);
create table public.parts_eu partition of public.parts for values in ('eu');
create table public.late (id int primary key);
insert into public.items values (1, 'one');`;

async function capturedSource(major: number): Promise<LocalDatabase> {
  const db = await sourceDb(major);
  await asOwner(db, SCHEMA);
  await installCapture(db, [
    { tableId: 1, name: "items", keyColumns: ["id"] },
    { tableId: 2, name: "parts", keyColumns: ["region", "id"], leaves: ["parts_eu"] },
  ]);
  return db;
}

/** An application session (not pgferry): a plain client, as the app would have. */
function appSession(db: LocalDatabase): Promise<pg.Client> {
  return ownerSession(db, "app");
}

function sqlState(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );
}

const sources = [...new Set(testPairs().map((p) => p.source))];

describe.each(sources)("the write fence, PostgreSQL %i source", (major) => {
  it("refuses every write at once with SQLSTATE 25006, keeps reads, and lowers cleanly", async () => {
    const db = await capturedSource(major);
    const app = await appSession(db);
    const pgferry = await connect(parseConnUrl(db.url, "source"), { stage: "cutover" });
    try {
      // The app session has run the capture function before: its cached plpgsql must see the change.
      await app.query("insert into public.items values (2, 'two')");
      expect(await fenceState(pgferry)).toBe("down");
      const bodies = () =>
        asOwner(
          db,
          "select proname, prosrc from pg_proc where pronamespace = 'pgferry'::regnamespace order by 1",
        );
      const live = await bodies();
      await raiseFence(pgferry, "source");
      expect(await fenceState(pgferry)).toBe("up");
      // Raised again (a cutover resumed after a kill): the saved live bodies are kept.
      await raiseFence(pgferry, "source");
      // A table captured while the fence is up (the capture schema installed again too) is
      // fenced at once, and the fence stays up.
      await installCapture(db, [{ tableId: 9, name: "late", keyColumns: ["id"] }]);
      expect(await fenceState(pgferry)).toBe("up");
      expect(await sqlState(app.query("insert into public.late values (1)"))).toBe("25006");
      const err = await app.query("insert into public.items values (3, 'three')").catch((e) => e);
      expect(err).toMatchObject({ code: "25006", message: expect.stringContaining("writes are paused") });
      expect(err.hint).toContain("retry against the new database");
      for (const sql of [
        "update public.items set note = 'x'",
        "delete from public.items where id = 1",
        "truncate public.items",
        "insert into public.parts values (1, 'eu')",
        "insert into public.parts_eu values (2, 'eu')",
      ]) {
        expect(await sqlState(app.query(sql)), sql).toBe("25006");
      }
      // A fresh session is fenced too; reads work everywhere.
      const late = await appSession(db);
      expect(await sqlState(late.query("insert into public.items values (4, 'four')"))).toBe("25006");
      expect((await late.query("select count(*)::int as n from public.items")).rows).toEqual([{ n: 2 }]);
      await late.end();

      await lowerFence(pgferry);
      expect(await fenceState(pgferry)).toBe("down");
      await app.query("insert into public.items values (5, 'five')");
      // Every capture function has its own body back, and logs again.
      expect((await bodies()).filter((f) => !String(f.proname).startsWith("capture_9_"))).toEqual(live);
      await app.query("insert into public.late values (2)");
      expect(await asOwner(db, "select key from pgferry.changes where tbl = 9")).toEqual([
        { key: { id: 2 } },
      ]);
      expect(await asOwner(db, "select key from pgferry.changes where tbl = 1 order by ctid")).toEqual([
        { key: { id: 2 } },
        { key: { id: 5 } },
      ]);
      const rows = await asOwner(db, "select id, note from public.items order by id");
      expect(rows).toEqual([
        { id: 1, note: "one" },
        { id: 2, note: "two" },
        { id: 5, note: "five" },
      ]);
    } finally {
      await app.end();
      await pgferry.end();
    }
  });

  it("logs a write that meets a fenced body after pgferry.fence() was lowered (the race at the fence's fall)", async () => {
    // A writer whose trigger call began under the fenced body can reach its guard's
    // pgferry.fence() after the lowering committed: fence() then passes. What it sees is this
    // state, made here by lowering fence() alone: the write must fall through and be logged.
    const db = await capturedSource(major);
    const app = await appSession(db);
    const pgferry = await connect(parseConnUrl(db.url, "source"), { stage: "cutover" });
    try {
      await raiseFence(pgferry, "source");
      expect(await sqlState(app.query("insert into public.items values (2, 'two')"))).toBe("25006");
      await asOwner(
        db,
        "create or replace function pgferry.fence() returns void language plpgsql as $fn$ begin end $fn$",
      );
      await app.query("insert into public.items values (3, 'three')");
      await app.query("update public.items set note = 'one!' where id = 1");
      expect(await asOwner(db, "select op, key from pgferry.changes where tbl = 1 order by ctid")).toEqual([
        { op: "I", key: { id: 3 } },
        { op: "U", key: { id: 1 } },
      ]);
    } finally {
      await app.end();
      await pgferry.end();
    }
  });

  it("loses no write while the fence goes up and down under writers", async () => {
    const db = await capturedSource(major);
    const pgferry = await connect(parseConnUrl(db.url, "source"), { stage: "cutover" });
    const committed: number[] = [];
    let writing = true;
    const writer = async (first: number) => {
      const c = await appSession(db);
      try {
        for (let id = first; writing; id += 2) {
          const code = await sqlState(c.query("insert into public.items values ($1, 'w')", [id]));
          if (code === undefined) committed.push(id);
          else expect(code).toBe("25006");
        }
      } finally {
        await c.end();
      }
    };
    const writers = [writer(1000), writer(1001)];
    try {
      for (let i = 0; i < 40; i++) {
        await raiseFence(pgferry, "source");
        await lowerFence(pgferry);
      }
    } finally {
      writing = false;
      await Promise.all(writers);
      await pgferry.end();
    }
    const logged = new Set(
      (
        await asOwner<{ id: number }>(
          db,
          "select (key->>'id')::int as id from pgferry.changes where tbl = 1 and op = 'I'",
        )
      ).map((r) => r.id),
    );
    expect(committed.length).toBeGreaterThan(0);
    expect(committed.filter((id) => !logged.has(id))).toEqual([]);
  });

  it("drains: waits for transactions that wrote (or hold a write lock) before the fence", async () => {
    const db = await capturedSource(major);
    const wrote = await appSession(db);
    const locked = await appSession(db);
    const pgferry = await connect(parseConnUrl(db.url, "source"), { stage: "cutover" });
    try {
      await wrote.query("begin");
      await wrote.query("insert into public.items values (10, 'in flight')");
      // Holds the table's write lock without a txid yet: an insert of no rows.
      await locked.query("begin");
      await locked.query("insert into public.items select 11, 'none' where false");
      const fence = await raiseFence(pgferry, "source");
      let drained = false;
      const drain = drainWriters(pgferry, fence, "source", { timeoutMs: 20_000 }).then((ms) => {
        drained = true;
        return ms;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(drained).toBe(false);
      await wrote.query("commit");
      await new Promise((r) => setTimeout(r, 300));
      expect(drained).toBe(false);
      // Whether this late write is refused or goes through, the drain waits for its transaction.
      const late = await sqlState(locked.query("insert into public.items values (12, 'late')"));
      expect([undefined, "25006"]).toContain(late);
      await locked.query(late ? "rollback" : "commit");
      await drain;
      expect(drained).toBe(true);
      // Every committed write is in the log, to be applied by the final catch-up.
      const committed = await asOwner<{ id: number }>(
        db,
        "select id from public.items where id >= 10 order by id",
      );
      const logged = await asOwner<{ id: number }>(
        db,
        "select (key->>'id')::int as id from pgferry.changes where tbl = 1 and op = 'I' order by 1",
      );
      expect(logged).toEqual(committed);
      expect(committed[0]).toEqual({ id: 10 });
    } finally {
      await wrote.end();
      await locked.end();
      await pgferry.end();
    }
  });

  it("gives up after the drain timeout, naming the session it waited for", async () => {
    const db = await capturedSource(major);
    const app = await appSession(db);
    const pgferry = await connect(parseConnUrl(db.url, "source"), { stage: "cutover" });
    try {
      await app.query("begin");
      await app.query("update public.items set note = 'held' where id = 1");
      const { rows } = await app.query<{ pid: number }>("select pg_backend_pid() as pid");
      const fence = await raiseFence(pgferry, "source");
      const err = await drainWriters(pgferry, fence, "source", { timeoutMs: 300 }).catch((e) => e);
      expect(err).toMatchObject({ code: "FENCE_TIMEOUT", side: "source" });
      expect(err.message).toContain(`pid ${rows[0]!.pid} (app, idle in transaction`);
      await lowerFence(pgferry);
      await app.query("commit");
      await app.query("insert into public.items values (20, 'after')");
    } finally {
      await app.end();
      await pgferry.end();
    }
  });
});
