import type pg from "pg";
import { describe, expect, it } from "vitest";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { spawnPgferry, waitFor } from "../harness/pgferry-process.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";

// slow_key sleeps on the target only (its databases are named tgt_…), so the index built
// with it takes several seconds there: a window to kill pgferry in the middle of an index
// build. Ctrl-C in step 2b cancels that build if it has started (it is not a safe point), so
// step 3 always finds it still to build; with 1 ms per row it sometimes finished in 2b.
const FIXTURE = `
create function public.slow_key(i int) returns int language plpgsql immutable as $$
begin
  if current_database() like 'tgt%' then perform pg_sleep(0.003); end if;
  return i;
end $$;
create table public.big (id int primary key, v int);
insert into public.big select i, i % 1000 from generate_series(1, 100000) i;
create index big_v on public.big (v);
create table public.slow (id int primary key, v text);
insert into public.slow select i, 'slow ' || i from generate_series(1, 1500) i;
create index slow_idx on public.slow (public.slow_key(id));
create table public.locked (id int primary key, v int);
insert into public.locked select i, i from generate_series(1, 10) i;
`;

interface ChunkState {
  table_id: number;
  chunk_no: number;
  done_at: Date;
  worker: string;
}

async function doneChunks(tgt: LocalDatabase): Promise<ChunkState[]> {
  return asOwner<ChunkState>(
    tgt,
    "select table_id, chunk_no, done_at, worker from pgferry.chunks where done order by 1, 2",
  );
}

/** A session of "the application" holding a row lock in an open transaction. */
async function holdRowLock(db: LocalDatabase): Promise<pg.Client> {
  const client = await ownerSession(db, "billing-app");
  await client.query("begin");
  await client.query("update public.locked set v = v + 1 where id = 1");
  return client;
}

function output(p: { stdout: string[]; stderr: string[] }): string {
  return [...p.stdout, ...p.stderr].join("\n");
}

describe.each(testPairs())("resume after kill -9, %s", (pair) => {
  it(`${pairLabel(pair)}: killed in prepare, mid-copy and mid-index, start finishes without losing, duplicating or re-copying, then streams`, async () => {
    const src = await sourceDb(pair.source);
    const tgt = await targetDb(pair.target);
    await asOwner(src, FIXTURE);
    const args = [
      "start",
      "--source",
      src.url,
      "--target",
      tgt.url,
      "--no-stream",
      "--json",
      "--jobs",
      "2",
      "--index-jobs",
      "2",
      "--chunk-rows",
      "2500",
      // Throttled so the copy of public.big lasts a few seconds.
      "--max-rate",
      "0.4",
      "--lock-timeout",
      "0.2",
    ];

    // 1. Prepare: a trigger install waits behind the application's open transaction.
    const holder = await holdRowLock(src);
    const p1 = spawnPgferry(args);
    const line = await waitFor("a lock:wait event", () => p1.stdout.find((l) => l.includes('"lock:wait"')), {
      while: p1,
    });
    const wait = JSON.parse(line);
    expect(wait.table).toBe("public.locked");
    expect(wait.waiters.map((w: { applicationName: string }) => w.applicationName)).toContain("billing-app");
    // The other tables go on meanwhile.
    await waitFor(
      "capture triggers on the other tables",
      async () => {
        const [r] = await asOwner<{ n: number }>(
          src,
          `select count(distinct tgrelid)::int as n from pg_trigger
            where tgname = 'pgferry_capture_ins' and tgrelid in ('public.big'::regclass, 'public.slow'::regclass)`,
        );
        return r!.n === 2;
      },
      { while: p1 },
    );
    await p1.kill9();
    const [m1] = await asOwner(tgt, "select phase, start_position from pgferry.migration");
    expect(m1).toEqual({ phase: "preparing", start_position: null });
    await holder.query("rollback");
    await holder.end();

    // 2. In the middle of copying public.big.
    const p2 = spawnPgferry(args);
    await waitFor(
      "some chunks of public.big",
      async () => {
        const [r] = await asOwner<{ done: number; total: number }>(
          tgt,
          `select count(*) filter (where done)::int as done, count(*)::int as total
             from pgferry.chunks c join pgferry.tables t on t.id = c.table_id where t.table_name = 'big'`,
        );
        return r!.done >= 8 && r!.done < r!.total;
      },
      { while: p2, intervalMs: 15 },
    );
    await p2.kill9();
    const afterCopyKill = await doneChunks(tgt);
    const [whole] = await asOwner<{ copied: string; marked: string }>(
      tgt,
      `select (select count(*) from public.big)::text as copied,
              (select coalesce(sum(c.rows), 0) from pgferry.chunks c join pgferry.tables t on t.id = c.table_id
                where t.table_name = 'big' and c.done)::text as marked`,
    );
    // Only whole chunks: the chunk in flight rolled back with its claim.
    expect(whole!.copied).toBe(whole!.marked);

    // 2b. Ctrl-C in the middle of the copy: the chunks in flight are abandoned, exit 0.
    const p2b = spawnPgferry(args);
    await waitFor("more chunks", async () => (await doneChunks(tgt)).length >= afterCopyKill.length + 4, {
      while: p2b,
      intervalMs: 15,
    });
    p2b.child.kill("SIGINT");
    expect((await p2b.exited).code, output(p2b)).toBe(0);
    expect(JSON.parse(p2b.stdout.at(-1)!).message).toMatch(/^Stopped/);
    const [whole2] = await asOwner<{ copied: string; marked: string }>(
      tgt,
      `select (select count(*) from public.big)::text as copied,
              (select coalesce(sum(c.rows), 0) from pgferry.chunks c join pgferry.tables t on t.id = c.table_id
                where t.table_name = 'big' and c.done)::text as marked`,
    );
    expect(whole2!.copied).toBe(whole2!.marked);

    // 3. During an index build.
    const p3 = spawnPgferry(args);
    await waitFor(
      "the slow index build",
      async () =>
        (
          await asOwner(
            tgt,
            "select 1 from pg_stat_activity where state = 'active' and query ilike '%slow_idx%' and pid <> pg_backend_pid()",
          )
        ).length > 0,
      { while: p3, intervalMs: 15 },
    );
    await p3.kill9();
    const afterIndexKill = await doneChunks(tgt);

    // 4. To the end, then streaming: a change made now arrives; Ctrl-C stops it cleanly.
    const p4 = spawnPgferry(args.filter((a) => a !== "--no-stream"));
    await waitFor(
      "every table streaming",
      async () => {
        const rows = await asOwner<{ phase: string }>(tgt, "select distinct phase from pgferry.tables");
        return rows.length === 1 && rows[0]!.phase === "streaming";
      },
      { while: p4, intervalMs: 50 },
    );
    await asOwner(src, "update public.big set v = -1 where id <= 10; delete from public.slow where id = 1");
    await waitFor(
      "the change applied",
      async () => (await asOwner(tgt, "select 1 from public.big where id = 10 and v = -1")).length > 0,
      { while: p4, intervalMs: 50 },
    );
    p4.child.kill("SIGINT");
    const end = await p4.exited;
    expect(end.code, output(p4)).toBe(0);

    await assertSameContents(src, tgt);
    const final = await doneChunks(tgt);
    const [all] = await asOwner<{ n: number }>(tgt, "select count(*)::int as n from pgferry.chunks");
    expect(final).toHaveLength(all!.n);
    for (const before of [...afterCopyKill, ...afterIndexKill]) {
      const now = final.find((c) => c.table_id === before.table_id && c.chunk_no === before.chunk_no);
      expect(now).toEqual(before);
    }
    const tables = await asOwner<{ phase: string }>(tgt, "select distinct phase from pgferry.tables");
    expect(tables).toEqual([{ phase: "streaming" }]);
    const [post] = await asOwner<{ left: number }>(
      tgt,
      "select count(*)::int as left from pgferry.post_data where stage = 'index' and not done",
    );
    expect(post!.left).toBe(0);
    const indexes = await asOwner<{ indexname: string }>(
      tgt,
      "select indexname from pg_indexes where schemaname = 'public' order by 1",
    );
    expect(indexes.map((i) => i.indexname)).toEqual([
      "big_pkey",
      "big_v",
      "locked_pkey",
      "slow_idx",
      "slow_pkey",
    ]);
    const [m] = await asOwner(tgt, "select phase from pgferry.migration");
    expect(m).toEqual({ phase: "streaming" });
  });
});
