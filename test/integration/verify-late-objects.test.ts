// Issue 12, item B: verify without false alarms. A NOT VALID check is created at cutover, so
// before it it is "created at cutover", not missing; keys past --max-keys are re-checked like
// the others; and a foreign key that references a partitioned table is validated with its
// per-partition clones after the switch.
import { describe, expect, it } from "vitest";
import { cutover } from "../../src/cutover/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { runStream } from "../../src/stream/index.js";
import { verify } from "../../src/verify/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext, waitCaughtUp, waitFor } from "../harness/stream-wait.js";

const SCHEMA = `
create schema app;
create table app.spans (id int primary key, lo int not null, hi int not null);
insert into app.spans select g, g, g + 1 from generate_series(1, 50) g;
insert into app.spans values (51, 9, 1); -- violates the check added NOT VALID below
alter table app.spans add constraint lo_le_hi check (lo <= hi) not valid;
create table app.events (id int primary key, v int not null) partition by range (id);
create table app.events_1 partition of app.events for values from (0) to (100);
create table app.events_2 partition of app.events for values from (100) to (200);
insert into app.events select g, g from generate_series(1, 199) g;
create table app.refs (id int primary key, event_id int not null references app.events (id));
insert into app.refs select g, g from generate_series(1, 199) g;`;

/** start --no-stream, then the stream, caught up with a heartbeat applied (what a cutover needs). */
async function streaming(p: { source: number; target: number }) {
  const source = await sourceDb(p.source);
  const target = await targetDb(p.target);
  await asOwner(source, SCHEMA);
  const started = await runMigration(streamContext(source, target), { jobs: 1, indexJobs: 1, stream: false });
  expect(started.outcome).toBe("indexed");
  const stop = new AbortController();
  const stream = runStream(streamContext(source, target, stop.signal), { windowIntervalMs: 100 });
  await waitCaughtUp(source, target);
  await waitFor("a heartbeat on the target", async () => {
    const [m] = await asOwner<{ beat: Date | null }>(
      target,
      "select heartbeat_at as beat from pgferry.migration",
    );
    return m?.beat !== null && m?.beat !== undefined;
  });
  return { source, target, stop, stream };
}

async function foreignKeys(db: LocalDatabase): Promise<unknown[]> {
  return asOwner(
    db,
    `select conrelid::regclass::text as rel, confrelid::regclass::text as ref, convalidated as valid
       from pg_constraint where contype = 'f' and connamespace = 'app'::regnamespace order by 1, 2`,
  );
}

describe.each(testPairs())("verify and the cutover's late objects, PostgreSQL %s", (p) => {
  it(`${pairLabel(p)}: a NOT VALID check is "created at cutover"; keys past --max-keys are re-checked; FK clones validated`, async () => {
    const { source, target, stop, stream } = await streaming(p);
    const writer = await ownerSession(source);
    let writing = true;
    const writes = (async () => {
      // Every row of app.events changes again and again: many more keys in flight than are listed.
      while (writing) await writer.query("update app.events set v = v + 1");
    })();
    try {
      const busy = await verify(streamContext(source, target), {
        rangeRows: 20,
        maxKeys: 1,
        recheckBatch: 7,
        settleTimeoutMs: 60_000,
      });
      writing = false;
      await writes;
      expect(busy.tables.map((t) => [t.name, t.identical, t.differences, t.moreDifferences])).toEqual([
        ["app.events", true, [], 0],
        ["app.refs", true, [], 0],
        ["app.spans", true, [], 0],
      ]);
      expect(busy.identical).toBe(true);
      expect(busy.tables.find((t) => t.name === "app.spans")!.pendingObjects).toEqual([
        "constraint (NOT VALID) lo_le_hi",
      ]);

      await waitCaughtUp(source, target);
      const done = await cutover(streamContext(source, target), { maxLagSeconds: 60, manualSwitch: true });
      expect(done.switchedAt).toBeInstanceOf(Date);
      await assertSameContents(source, target, {
        tables: ["app.spans", "app.events_1", "app.events_2", "app.refs"],
      });
      const after = await verify(streamContext(source, target));
      expect(after.tables.filter((t) => !t.identical)).toEqual([]);
      // The check stays NOT VALID, as on the source (row 51 violates it).
      expect(
        await asOwner(target, "select convalidated as valid from pg_constraint where conname = 'lo_le_hi'"),
      ).toEqual([{ valid: false }]);
      // The key to a partitioned table: itself and its per-partition clones, all validated.
      expect(await foreignKeys(target)).toEqual([
        { rel: "app.refs", ref: "app.events", valid: true },
        { rel: "app.refs", ref: "app.events_1", valid: true },
        { rel: "app.refs", ref: "app.events_2", valid: true },
      ]);
    } finally {
      writing = false;
      await writes;
      await writer.end();
      stop.abort();
      await stream.catch(() => {});
    }
  });
});
