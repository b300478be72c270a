import { describe, expect, it } from "vitest";
import { runCheck } from "../../src/check/index.js";
import { runMigration } from "../../src/migration.js";
import { readStatus } from "../../src/progress/status.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { createWriterTables, seedWriterTables, startRandomWriter } from "../harness/random-writer.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext, waitFor } from "../harness/stream-wait.js";

// Issue 17, item 14: the change log grew without bound while nothing streamed (349 MB in 25
// minutes), and neither status nor check said so.

describe.each(testPairs())("the source's change log, shown and warned about (%s)", (p) => {
  it(`${pairLabel(p)}: check warns while nothing applies it; a stream trims it and status shows its size`, async () => {
    const source = await sourceDb(p.source);
    const target = await targetDb(p.target);
    await createWriterTables(source);
    await seedWriterTables(source, 100);
    const ctx = streamContext(source, target);
    expect((await runMigration(ctx, { jobs: 1, indexJobs: 1, skipCheck: true, stream: false })).outcome).toBe(
      "indexed",
    );
    const app = startRandomWriter(source, { clients: 2, seed: 3 });
    await waitFor("the app's writes in the log", async () => {
      const [r] = await asOwner<{ n: number }>(source, "select count(*)::int as n from pgferry.changes");
      return r!.n > 200;
    });
    const check = () =>
      runCheck({ source: ctx.source, target: ctx.target, requireEmptyTarget: false }).then((r) => [
        ...r.warnings,
        ...r.info,
      ]);
    const stalled = (await check()).find((f) => f.code === "CHANGE_LOG_GROWING");
    expect(stalled?.message).toMatch(/change log holds .* applied nothing/);

    // A stream runs: it applies and trims the log, and records its size for status.
    const stop = new AbortController();
    const run = runMigration(streamContext(source, target, stop.signal), {
      jobs: 1,
      indexJobs: 1,
      skipCheck: true,
    });
    try {
      const tgt = await ownerSession(target);
      try {
        const measured = await waitFor(
          "the stream's lag and log size",
          async () => {
            const s = await readStatus(tgt);
            return s.lagSeconds !== null && s.lagSeconds < 60 && s.changeLog !== undefined ? s : undefined;
          },
          120_000,
        );
        // Its rows too (010_change_log_rows), PostgreSQL's live-row estimate: the monitor's gauge.
        expect(measured.changeLog?.rows).toBeGreaterThanOrEqual(0);
      } finally {
        await tgt.end();
      }
      const found = await check();
      expect(found.map((f) => f.code)).toContain("CHANGE_LOG");
      expect(found.map((f) => f.code)).not.toContain("CHANGE_LOG_GROWING");
    } finally {
      await app.stop();
      stop.abort();
      await run;
    }
  });
});
