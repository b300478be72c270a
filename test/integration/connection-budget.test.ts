import { describe, expect, it } from "vitest";
import { runCheck, type ServerSummary } from "../../src/check/index.js";
import { ident, literal, parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { parseSnapshot, snapshotCovers } from "../../src/positions/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import {
  createWriterTables,
  seedWriterTables,
  startRandomWriter,
  WRITER_TABLES,
} from "../harness/random-writer.js";
import { asOwner, asSuperuser, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext, waitFor } from "../harness/stream-wait.js";

// Issue 17, item 8: check budgeted jobs + 3 source connections, the stream then held more and
// kept opening more, and the application got "too many connections for role".

/** Resolves once the random writer's sessions are all connected (they count against the role's limit). */
async function writerConnected(db: LocalDatabase, clients: number): Promise<void> {
  await waitFor("the writer's sessions", async () => {
    const [r] = await asSuperuser<{ n: number }>(
      db,
      "select count(*)::int as n from pg_stat_activity where application_name = 'random-writer'",
    );
    return r!.n >= clients;
  });
}

/**
 * Until the target has applied everything the source committed so far. The source's snapshot
 * is taken as superuser: this test's own sessions must not count against the role's limit or
 * among the pgferry sessions sampled.
 */
async function caughtUp(source: LocalDatabase, target: LocalDatabase): Promise<void> {
  const [{ q }] = (await asSuperuser<{ q: string }>(source, "select txid_current_snapshot()::text as q")) as [
    { q: string },
  ];
  await waitFor(
    "the target caught up",
    async () => {
      const rows = await asOwner<{ position: string | null }>(target, "select position from pgferry.tables");
      return rows.every(
        (r) => r.position !== null && snapshotCovers(parseSnapshot(r.position), parseSnapshot(q)),
      );
    },
    120_000,
  );
}

/** Samples, as superuser (outside the role's limit), the most pgferry sessions the role held. */
function sampleSessions(db: LocalDatabase): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const [r] = await asSuperuser<{ n: number }>(
        db,
        `select count(*)::int as n from pg_stat_activity where usename = ${literal(db.role)} and application_name like 'pgferry:%'`,
      );
      max = Math.max(max, r!.n);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}

describe.each(testPairs())("the source connection budget (%s)", (p) => {
  it(`${pairLabel(p)}: start holds no more source sessions than check budgeted, and the app keeps its own`, async () => {
    const source = await sourceDb(p.source);
    const target = await targetDb(p.target);
    await createWriterTables(source);
    await seedWriterTables(source, 300);
    // The app's 2 sessions + what check will budget (2 jobs + 3) + 1 for this test's probes.
    await asSuperuser(source, `alter role ${ident(source.role)} connection limit 8`);
    const app = startRandomWriter(source, { clients: 2, seed: 5 });
    await writerConnected(source, 2);
    const report = await runCheck({
      source: parseConnUrl(source.url, "source"),
      target: parseConnUrl(target.url, "target"),
      requireEmptyTarget: true,
      jobs: 2,
    });
    expect(report.blockers.map((b) => b.code)).not.toContain("CONNECTION_BUDGET");
    const budget = (report.source as ServerSummary).connections!.needed;
    expect(budget).toBe(5);

    const sampler = sampleSessions(source);
    const stop = new AbortController();
    const ctx = streamContext(source, target, stop.signal);
    const run = runMigration(ctx, { jobs: 2, indexJobs: 1, skipCheck: true });
    try {
      await waitFor(
        "every table streaming",
        async () => {
          const [r] = await asOwner<{ n: number }>(
            target,
            "select count(*)::int as n from pgferry.tables where phase = 'streaming' and to_regclass('pgferry.tables') is not null",
          ).catch(() => [{ n: 0 }]);
          return r!.n === WRITER_TABLES.length;
        },
        120_000,
      );
      await caughtUp(source, target);
    } finally {
      const stats = await app.stop();
      expect(stats.errors.filter((e) => /too many connections/i.test(e))).toEqual([]);
      expect(stats.committed).toBeGreaterThan(0);
    }
    await caughtUp(source, target);
    stop.abort();
    expect((await run).outcome).toBe("stopped");
    expect(await sampler.stop()).toBeLessThanOrEqual(budget);
    await assertSameContents(source, target);
  });

  it(`${pairLabel(p)}: a role limit that leaves no room for one job says what is possible`, async () => {
    const source = await sourceDb(p.source);
    const target = await targetDb(p.target);
    await createWriterTables(source);
    await asSuperuser(source, `alter role ${ident(source.role)} connection limit 5`);
    const app = startRandomWriter(source, { clients: 2, seed: 9 });
    try {
      await writerConnected(source, 2);
      const report = await runCheck({
        source: parseConnUrl(source.url, "source"),
        target: parseConnUrl(target.url, "target"),
        requireEmptyTarget: true,
        jobs: 1,
      });
      const blocker = report.blockers.find((b) => b.code === "CONNECTION_BUDGET" && b.side === "source");
      expect(blocker?.fix).toMatch(
        /needs at least 4 \(--jobs 1 \+ 3\) and 3 are free: free 1 .*CONNECTION LIMIT/,
      );
      expect(blocker?.fix).not.toMatch(/--jobs 0|or less/);
    } finally {
      await app.stop();
    }
  });
});
