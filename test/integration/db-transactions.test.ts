import { describe, expect, it } from "vitest";
import { lockHolders } from "../../src/capture/index.js";
import {
  connect,
  lockBoundedTransaction,
  parseConnUrl,
  SQLSTATE,
  sqlState,
  withTransaction,
} from "../../src/db/index.js";
import { PgferryError } from "../../src/errors/index.js";
import { testMajors } from "../harness/pairs.js";
import { asOwner, ownerSession, sourceDb } from "../harness/servers.js";

// Issue 10, item 4: one lock-bounded transaction and one withTransaction, on a real server.

const FAST = { baseMs: 20, capMs: 40, jitter: [1, 1] as const };

describe.each(testMajors())("db transactions, PostgreSQL %s", (major) => {
  it("withTransaction commits the body, or rolls it back and rethrows the body's error", async () => {
    const db = await sourceDb(major);
    await asOwner(db, "create table public.t (id int primary key)");
    const c = await connect(parseConnUrl(db.url, "source"), { stage: "prepare" });
    try {
      expect(
        await withTransaction(c, async () => (await c.query("insert into public.t values (1)")).rowCount),
      ).toBe(1);
      const failed = await withTransaction(c, async () => {
        await c.query("insert into public.t values (2)");
        await c.query("insert into public.t values (1)");
      }).catch((e: unknown) => e);
      expect(sqlState(failed)).toBe(SQLSTATE.uniqueViolation);
      // Rolled back: 2 is gone, and the session is usable (not left in an aborted transaction).
      expect((await c.query("select array_agg(id order by id) as ids from public.t")).rows[0].ids).toEqual([
        1,
      ]);
    } finally {
      await c.end();
    }
  });

  it("a lock-bounded transaction retries while the lock is held, reporting the holder each time, then gives up", async () => {
    const db = await sourceDb(major);
    await asOwner(db, "create table public.t (id int primary key)");
    const holder = await ownerSession(db, "long-writer");
    const c = await connect(parseConnUrl(db.url, "source"), { stage: "prepare" });
    try {
      await holder.query("begin; lock table public.t in access exclusive mode");
      const waits: { attempt: number; apps: string[] }[] = [];
      let ran = 0;
      const err = await lockBoundedTransaction(
        c,
        {
          lockTimeoutMs: 50,
          attempts: 3,
          backoff: FAST,
          holders: () => lockHolders(c, { schema: "public", name: "t" }),
          onWait: (w, attempt) => waits.push({ attempt, apps: w.map((x) => x.applicationName) }),
          failure: (w, cause) =>
            new PgferryError("LOCK_TIMEOUT", `held by ${w.map((x) => x.applicationName).join(", ")}`, {
              cause,
            }),
        },
        async () => {
          ran++;
          await c.query(
            "create trigger never after insert on public.t execute procedure suppress_redundant_updates_trigger()",
          );
        },
      ).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "LOCK_TIMEOUT", message: "held by long-writer" });
      expect(sqlState((err as PgferryError).cause)).toBe(SQLSTATE.lockNotAvailable);
      expect(ran).toBe(3);
      expect(waits).toEqual([1, 2, 3].map((attempt) => ({ attempt, apps: ["long-writer"] })));
      // Each attempt rolled back: the session is idle, not in a transaction.
      expect((await c.query("select 1 as one")).rows[0].one).toBe(1);

      // Released between tries: the next attempt gets the lock and commits.
      let attempts = 0;
      const done = lockBoundedTransaction(
        c,
        {
          lockTimeoutMs: 50,
          attempts: 50,
          backoff: FAST,
          holders: async () => [],
          onWait: (_w, attempt) => {
            attempts = attempt;
            if (attempt === 2) void holder.query("commit");
          },
          failure: (_w, cause) => new PgferryError("LOCK_TIMEOUT", "gave up", { cause }),
        },
        async () => {
          await c.query("insert into public.t values (7)");
          return "committed";
        },
      );
      expect(await done).toBe("committed");
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(await asOwner(db, "select id from public.t")).toEqual([{ id: 7 }]);
    } finally {
      await holder.query("rollback").catch(() => {});
      await holder.end();
      await c.end();
    }
  });

  it("an abort ends the pause between tries at once", async () => {
    const db = await sourceDb(major);
    await asOwner(db, "create table public.t (id int primary key)");
    const holder = await ownerSession(db);
    const c = await connect(parseConnUrl(db.url, "source"), { stage: "prepare" });
    try {
      await holder.query("begin; lock table public.t in access exclusive mode");
      const ac = new AbortController();
      const started = Date.now();
      const err = await lockBoundedTransaction(
        c,
        {
          lockTimeoutMs: 20,
          attempts: 5,
          // A pause of a minute: only the abort ends it.
          backoff: { baseMs: 60_000, capMs: 60_000, jitter: [1, 1] },
          signal: ac.signal,
          holders: async () => [],
          onWait: () => setTimeout(() => ac.abort(new Error("stop")), 50),
          failure: (_w, cause) => new PgferryError("LOCK_TIMEOUT", "gave up", { cause }),
        },
        async () => void (await c.query("lock table public.t in access exclusive mode")),
      ).catch((e: unknown) => e);
      expect(err).toMatchObject({ message: "stop" });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await holder.query("rollback").catch(() => {});
      await holder.end();
      await c.end();
    }
  });
});
