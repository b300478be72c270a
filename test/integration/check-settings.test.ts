import { describe, expect, it } from "vitest";
import { runCheck } from "../../src/check/index.js";
import { connect, ident, parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, asSuperuser, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext } from "../harness/stream-wait.js";

// Issue 17, items 12 and 13: a target role's statement_timeout failed every index build on
// every rerun; a LATIN1 target passed check and the copy failed hours in.

function checkOf(source: LocalDatabase, target: LocalDatabase) {
  return runCheck({
    source: parseConnUrl(source.url, "source"),
    target: parseConnUrl(target.url, "target"),
    requireEmptyTarget: true,
  });
}

/** A second database on the target's server, owned by the same role, with another encoding. */
async function latin1Twin(target: LocalDatabase): Promise<LocalDatabase> {
  const database = `${target.database}_latin1`;
  await target.server.admin(
    "postgres",
    `create database ${ident(database)} owner ${ident(target.role)} encoding 'LATIN1' lc_collate 'C' lc_ctype 'C' template template0`,
  );
  return { ...target, database, url: target.server.url(database, target.role, target.password, "prefer") };
}

describe.each(testPairs())("check: the target database's encoding and settings (%s)", (p) => {
  it(`${pairLabel(p)}: a LATIN1 target under a UTF8 source is a blocker`, async () => {
    const source = await sourceDb(p.source);
    const target = await latin1Twin(await targetDb(p.target));
    await asOwner(
      source,
      "create table public.t (id int primary key, s text); insert into public.t values (1, 'Ω')",
    );
    const report = await checkOf(source, target);
    expect(report.blockers.map((b) => b.code)).toContain("ENCODING_MISMATCH");
    expect(report.blockers.find((b) => b.code === "ENCODING_MISMATCH")!.message).toContain("LATIN1");
  });

  it(`${pairLabel(p)}: the source given as the target is a blocker (issue 17, item 14)`, async () => {
    const source = await sourceDb(p.source);
    await asOwner(source, "create table public.t (id int primary key)");
    const report = await checkOf(source, source);
    expect(report.blockers.map((b) => b.code)).toContain("SAME_DATABASE");
  });

  it(`${pairLabel(p)}: a read-only target role is a blocker whose printed fix works; role timeouts do not reach pgferry's sessions`, async () => {
    const source = await sourceDb(p.source);
    const target = await targetDb(p.target);
    await asOwner(
      source,
      `create table public.t (id int primary key, s text);
       insert into public.t select g, md5(g::text) from generate_series(1, 2000) g;
       create index t_s on public.t (s);`,
    );
    await asSuperuser(target, `alter role ${ident(target.role)} set default_transaction_read_only = on`);
    await asSuperuser(target, `alter role ${ident(target.role)} set statement_timeout = '5min'`);
    await asSuperuser(
      target,
      `alter role ${ident(target.role)} set idle_in_transaction_session_timeout = '5min'`,
    );
    const before = await checkOf(source, target);
    const finding = before.blockers.find((b) => b.code === "TARGET_ROLE_SETTINGS");
    expect(finding?.message).toContain("default_transaction_read_only=on");
    // The statements in the fix, run as printed by the target's own role.
    const statements = finding!.fix
      .replace(/^On the target: /, "")
      .replace(/ Set a transaction_timeout.*$/, "");
    // One statement at a time, as psql would run them (each its own transaction).
    const psql = await ownerSession(target);
    try {
      for (const sql of statements.split(/;\s*/).filter(Boolean)) await psql.query(sql);
    } finally {
      await psql.end();
    }
    const after = await checkOf(source, target);
    expect(after.blockers.map((b) => b.code)).not.toContain("TARGET_ROLE_SETTINGS");
    // The role's timeouts stay; pgferry's own sessions set theirs (a role's 1 ms failed every index build).
    const c = await connect(parseConnUrl(target.url, "target"), { stage: "index" });
    try {
      const { rows } = await c.query(
        "select current_setting('statement_timeout') as st, current_setting('idle_in_transaction_session_timeout') as idle",
      );
      expect(rows).toEqual([{ st: "0", idle: "0" }]);
    } finally {
      await c.end();
    }
    const out = await runMigration(streamContext(source, target), {
      jobs: 1,
      indexJobs: 1,
      skipCheck: true,
      stream: false,
    });
    expect(out.outcome).toBe("indexed");
    await assertSameContents(source, target);
  });

  // Issue 12, item F: pg_dump --schema-only carries no ALTER DATABASE / ALTER ROLE … SET.
  it(`${pairLabel(p)}: the source's database and role settings are reported with statements that work`, async () => {
    const source = await sourceDb(p.source);
    const target = await targetDb(p.target);
    await asOwner(
      source,
      `create schema app; create table app.t (id int primary key);
       alter database ${ident(source.database)} set search_path = app, public;
       alter role ${ident(source.role)} in database ${ident(source.database)} set work_mem = '8MB';`,
    );
    const report = await checkOf(source, target);
    const found = report.warnings.find((w) => w.code === "SOURCE_SETTINGS_NOT_CARRIED");
    expect(found?.message).toContain("search_path=app, public");
    expect(found?.fix).toContain(`ALTER DATABASE ${target.database} SET search_path = app, public;`);
    expect(found?.fix).toContain(
      `ALTER ROLE ${target.role} IN DATABASE ${target.database} SET work_mem = '8MB';`,
    );
    // The statements as printed, run by the target's owner: the next session has the settings.
    const statements = found!.fix.match(/ALTER (DATABASE|ROLE) [^;]+;/g)!;
    expect(statements).toHaveLength(2);
    await asOwner(target, statements.join("\n"));
    const [row] = await asOwner<{ path: string; mem: string }>(
      target,
      "select current_setting('search_path') as path, current_setting('work_mem') as mem",
    );
    expect(row).toEqual({ path: "app, public", mem: "8MB" });
    const again = await checkOf(source, target);
    expect(again.warnings.map((w) => w.code)).not.toContain("SOURCE_SETTINGS_NOT_CARRIED");
  });
});
