// Issue 12, item D: an event trigger on the source that writes into a migrated table (a DDL
// audit log) made every cutover fail at the fence and every cleanup after a switch fail the
// same way: pgferry's own DDL fired it, and its insert hit the fence.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCheck } from "../../src/check/index.js";
import { cleanup } from "../../src/cleanup/index.js";
import { cutover } from "../../src/cutover/index.js";
import { parseConnUrl } from "../../src/db/index.js";
import { runMigration } from "../../src/migration.js";
import { runStream } from "../../src/stream/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { urlsToEnv } from "../harness/pgferry-process.js";
import { asOwner, asSuperuser, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext, waitCaughtUp, waitFor } from "../harness/stream-wait.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");

/** The real CLI, URLs in the environment. */
async function cli(rawArgs: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { args, env } = urlsToEnv(rawArgs);
  try {
    const { stdout, stderr } = await promisify(execFile)("node", ["bin/pgferry.js", ...args], {
      cwd: repoRoot,
      env: { ...process.env, PGFERRY_SOURCE_URL: "", PGFERRY_TARGET_URL: "", NO_COLOR: "1", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const SCHEMA = `
create table public.items (id int primary key, name text not null);
insert into public.items select g, 'item ' || g from generate_series(1, 30) g;
create table public.ddl_log (id bigint generated always as identity primary key, tag text not null,
                             object text, at timestamptz not null default now());`;

// As an operator's DDL audit would be set up: by a superuser (event triggers need one).
const EVENT_TRIGGER = `
create function public.log_ddl() returns event_trigger language plpgsql as $$
declare r record;
begin
  for r in select * from pg_event_trigger_ddl_commands() loop
    insert into public.ddl_log (tag, object) values (r.command_tag, r.object_identity);
  end loop;
end $$;
create event trigger log_ddl on ddl_command_end execute procedure public.log_ddl();`;

describe.each(testPairs())("an event trigger on the source, PostgreSQL %s", (p) => {
  it(`${pairLabel(p)}: check lists it; cutover and cleanup succeed, and the rows it writes are migrated`, async () => {
    const [source, target] = await Promise.all([sourceDb(p.source), targetDb(p.target)]);
    await asOwner(source, SCHEMA);
    await asSuperuser(source, EVENT_TRIGGER);
    const report = await runCheck({
      source: parseConnUrl(source.url, "source"),
      target: parseConnUrl(target.url, "target"),
    });
    const found = report.warnings.find((w) => w.code === "EVENT_TRIGGERS");
    expect(found?.message).toContain("log_ddl");
    expect(found?.message).toContain("public.ddl_log");
    expect(report.blockers.filter((b) => !b.code.startsWith("CONNECTION_BUDGET"))).toEqual([]);

    const started = await runMigration(streamContext(source, target), {
      jobs: 1,
      indexJobs: 1,
      stream: false,
    });
    expect(started.outcome).toBe("indexed");
    const stop = new AbortController();
    const stream = runStream(streamContext(source, target, stop.signal), { windowIntervalMs: 100 });
    try {
      await waitCaughtUp(source, target);
      await waitFor("a heartbeat on the target", async () => {
        const [m] = await asOwner<{ beat: Date | null }>(
          target,
          "select heartbeat_at as beat from pgferry.migration",
        );
        return m?.beat !== null && m?.beat !== undefined;
      });
      const before = await asOwner<{ n: number }>(source, "select count(*)::int as n from public.ddl_log");
      const done = await cutover(streamContext(source, target), { maxLagSeconds: 60, manualSwitch: true });
      expect(done.switchedAt).toBeInstanceOf(Date);
      // The fence's own DDL fired the trigger: those rows were logged and carried over.
      const after = await asOwner<{ n: number }>(source, "select count(*)::int as n from public.ddl_log");
      expect(after[0]!.n).toBeGreaterThan(before[0]!.n);
      await assertSameContents(source, target, { tables: ["public.items", "public.ddl_log"] });
      // The fence is up all the same: the application's writes, DDL included, are refused.
      for (const sql of ["insert into public.items values (1000, 'x')", "create table public.x (id int)"]) {
        await expect(asOwner(source, sql)).rejects.toMatchObject({ code: "25006" });
      }
    } finally {
      stop.abort();
      await stream.catch(() => {});
    }
    const cleaned = await cleanup(streamContext(source, target));
    expect(cleaned).toBeDefined();
    const left = await asOwner(
      source,
      "select (select count(*)::int from pg_trigger where tgname like 'pgferry%') as triggers, to_regnamespace('pgferry') is null as gone",
    );
    expect(left).toEqual([{ triggers: 0, gone: true }]);
  });

  // Issue 12, item E: an error raised by the user's code names it, and is not INTERNAL.
  it(`${pairLabel(p)}: an event trigger that refuses DDL stops start with the user's function named`, async () => {
    const [source, target] = await Promise.all([sourceDb(p.source), targetDb(p.target)]);
    await asOwner(source, SCHEMA);
    await asSuperuser(
      source,
      `create function public.no_ddl() returns event_trigger language plpgsql as $$
       begin raise exception 'DDL is frozen (change freeze)'; end $$;
       create event trigger no_ddl on ddl_command_start execute procedure public.no_ddl();`,
    );
    const run = await cli(["start", "--no-stream", "--source", source.url, "--target", target.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("USER_OBJECT_FAILED");
    expect(run.stderr).toContain("no_ddl()");
    expect(run.stderr).toContain("DDL is frozen (change freeze)");
    expect(run.stderr).toContain("during prepare");
    expect(run.stderr).not.toContain("INTERNAL");
    // Nothing of pgferry's got onto the source.
    expect(await asOwner(source, "select to_regnamespace('pgferry') is null as clean")).toEqual([
      { clean: true },
    ]);
  });
});
