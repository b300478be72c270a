import { describe, expect, it } from "vitest";
import { parseConnUrl } from "../../src/db/index.js";
import { runMigration } from "../../src/migration.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { spawnPgferry } from "../harness/pgferry-process.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";

const FIXTURE = `
create table public.wide (id bigint primary key, a int, b text);
insert into public.wide select i, i % 97, md5(i::text) from generate_series(1, 30000) i;
create table public.keyed (k text primary key, v int);
insert into public.keyed select 'key-' || i, i from generate_series(1, 6000) i;
create index keyed_v on public.keyed (v);
create table public.small (id int primary key);
insert into public.small select generate_series(1, 10);
`;

describe.each(testPairs())("two pgferry processes on one target, %s", (pair) => {
  it(`${pairLabel(pair)}: share the chunks, never copy one twice, and both finish`, async () => {
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
      "1",
      "--chunk-rows",
      "1000",
      // Slow enough that the second process arrives while chunks are left.
      "--max-rate",
      "0.3",
    ];
    const a = spawnPgferry(args);
    const b = spawnPgferry(args);
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect(ea.code, [...a.stdout, ...a.stderr].join("\n")).toBe(0);
    expect(eb.code, [...b.stdout, ...b.stderr].join("\n")).toBe(0);

    await assertSameContents(src, tgt);
    const chunks = await asOwner<{ table_name: string; chunk_no: number; worker: string; rows: string }>(
      tgt,
      "select table_name, chunk_no, worker, rows::text from pgferry.chunks order by table_id, chunk_no",
    );
    expect(chunks.length).toBeGreaterThan(30);
    // Worker names are host:pid:wN: each process copied some of the chunks.
    const pids = new Set(chunks.map((c) => Number(c.worker.split(":").at(-2))));
    expect(pids).toEqual(new Set([a.child.pid, b.child.pid]));
    const wide = chunks.filter((c) => c.table_name === "wide").reduce((s, c) => s + Number(c.rows), 0);
    expect(wide).toBe(30000);
    const [m] = await asOwner(tgt, "select phase from pgferry.migration");
    expect(m).toEqual({ phase: "streaming" });

    // `status --json` reads the target alone (the source URL is not even given).
    const st = spawnPgferry(["status", "--target", tgt.url, "--json"]);
    expect((await st.exited).code, st.stderr.join("\n")).toBe(0);
    const status = JSON.parse(st.stdout.join(""));
    expect(status).toMatchObject({
      phase: "streaming",
      lagSeconds: null,
      pendingChanges: null,
      copy: { rowsDone: 36010, rowsTotal: 36010, etaSeconds: 0, chunksDone: chunks.length },
      errors: [],
    });
    expect(status.copy.bytesDone).toBeGreaterThan(1_000_000);
    expect(typeof status.copy.bytesPerSecond).toBe("number");
    expect(status.tables).toEqual([
      expect.objectContaining({ name: "public.keyed", phase: "indexed", rowsDone: 6000, rowsTotal: 6000 }),
      expect.objectContaining({ name: "public.small", phase: "indexed", rowsDone: 10, rowsTotal: 10 }),
      expect.objectContaining({ name: "public.wide", phase: "indexed", rowsDone: 30000, rowsTotal: 30000 }),
    ]);

    // A start from another source is refused, and leaves this migration untouched.
    const other = await sourceDb(pair.source);
    await asOwner(other, FIXTURE);
    const refused = runMigration(
      {
        source: parseConnUrl(other.url, "source"),
        target: parseConnUrl(tgt.url, "target"),
        emit: () => {},
        signal: new AbortController().signal,
      },
      { jobs: 1, indexJobs: 1, stream: false },
    );
    await expect(refused).rejects.toMatchObject({ code: "ALREADY_STARTED", side: "target" });
    expect(await asOwner(tgt, "select count(*)::int as n from pgferry.events where level = 'error'")).toEqual(
      [{ n: 0 }],
    );
  });
});

describe("start and status refusals", () => {
  const pair = testPairs()[0]!;

  it("refuses a source with preflight blockers, naming them, and status says there is no migration", async () => {
    const src = await sourceDb(pair.source);
    const tgt = await targetDb(pair.target);
    await asOwner(
      src,
      `create table public.forced (a int, b text); insert into public.forced values (1, 'x');
       alter table public.forced enable row level security; alter table public.forced force row level security`,
    );
    const p = spawnPgferry(["start", "--source", src.url, "--target", tgt.url, "--no-stream"]);
    expect((await p.exited).code).toBe(1);
    const err = p.stderr.join("\n");
    expect(err).toMatch(/CHECK_FAILED/);
    expect(err).toMatch(/forced/);
    expect(err).not.toContain(src.password);

    // Nothing was prepared: status says so and exits 0 (CLI.md: status always 0).
    const st = spawnPgferry(["status", "--target", tgt.url, "--json"]);
    expect((await st.exited).code).toBe(0);
    expect(JSON.parse(st.stdout.join(""))).toMatchObject({ phase: "none", tables: [], errors: [] });
    const plain = spawnPgferry(["status", "--target", tgt.url]);
    expect((await plain.exited).code).toBe(0);
    expect(plain.stdout.join("")).toMatch(/No pgferry migration on this target/);
  });
});
