// Issue 12, done-when: "if check exits 0, start --no-stream succeeds", held over a list of
// hostile schemas. For each: run check; while it finds blockers whose fix is SQL, run that
// SQL as printed (where and by whom the finding says) and check again; once check passes,
// start --no-stream must succeed and the target hold exactly the source's rows. Each schema
// also says what check must conclude, so the property is never met by check refusing all.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type CheckReport, type Finding, runCheck } from "../../src/check/index.js";
import { parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, asSuperuser, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext } from "../harness/stream-wait.js";

interface Hostile {
  name: string;
  /** Builds the schema: `source` SQL as the owner, `admin` SQL as the superuser (then `after`, as the owner). */
  source?: string;
  admin?: (roles: string) => string;
  after?: string;
  /** Run on the target as its superuser before check (what an administrator set up there). */
  targetAdmin?: string;
  exclude?: string[];
  /** Tables left out of the comparison ("schema.name" unquoted). */
  notCompared?: string[];
  /** ready: check passes as built; fixed: after its SQL fixes; blocked: no SQL fix remains. */
  expect: "ready" | "fixed" | "blocked";
  /** The codes whose SQL was run (fixed), or that remain (blocked). */
  codes?: string[];
  /** Warnings check must give. */
  warnings?: string[];
}

const HOSTILE: Hostile[] = [
  {
    name: "odd names: dots, quotes, newlines, commas, spaces, case, key words",
    source: `
      create schema "we.ird ""schema""";
      create type "we.ird ""schema"""."mo,od" as enum ('a.b', 'c"d', 'e
f');
      create table "we.ird ""schema"""."Order.Items" ("select" int primary key, "x""y" text, "new
line" "we.ird ""schema"""."mo,od");
      create index "idx.with""quote" on "we.ird ""schema"""."Order.Items" ("x""y");
      insert into "we.ird ""schema"""."Order.Items" select g, 'v' || g, (array['a.b', 'c"d', 'e
f'])[1 + g % 3]::"we.ird ""schema"""."mo,od" from generate_series(1, 40) g;
      create table public."a,b.c" (id bigint generated always as identity primary key, v text);
      insert into public."a,b.c" (v) select md5(g::text) from generate_series(1, 25) g;
      create table public."left
out" (id int primary key);`,
    exclude: ['public."left\nout"'],
    notCompared: ["public.left\nout"],
    expect: "ready",
  },
  {
    name: "keyless join tables holding duplicates, a partitioned keyless table",
    source: `
      create table public.tags (post int, tag text);
      insert into public.tags select g % 7, 't' || (g % 3) from generate_series(1, 60) g;
      create table public.hist (at date not null, v int) partition by range (at);
      create table public.hist_2024 partition of public.hist for values from ('2024-01-01') to ('2025-01-01');
      create table public.hist_2025 partition of public.hist for values from ('2025-01-01') to ('2026-01-01');
      insert into public.hist select date '2024-06-01' + (g % 400), g % 5 from generate_series(1, 300) g;`,
    expect: "ready",
  },
  {
    name: "an event trigger writing into a migrated table",
    source:
      "create table public.ddl_log (id bigint generated always as identity primary key, tag text, at timestamptz default now());",
    admin: () => `
      create function public.log_ddl() returns event_trigger language plpgsql as $$
      begin insert into public.ddl_log (tag) values (tg_tag); end $$;
      create event trigger log_ddl on ddl_command_end execute function public.log_ddl();`,
    after: "create table public.items (id int primary key); insert into public.items values (1);",
    expect: "ready",
    warnings: ["EVENT_TRIGGERS"],
  },
  {
    name: "a C function and a function with a superuser-only SET",
    source: "create table public.items (id int primary key); insert into public.items values (1), (2);",
    admin: () => `
      create function public.lo_manage_copy() returns trigger language c as '$libdir/lo', 'lo_manage';
      create function public.capped() returns int language sql set temp_file_limit = '1GB' as 'select 1';`,
    expect: "fixed",
    codes: ["SCHEMA_NEEDS_PRIVILEGE"],
  },
  {
    name: "a foreign table left out, on a wrapper the target role may not create",
    source: "create table public.items (id int primary key); insert into public.items values (1);",
    admin: () => `
      create extension postgres_fdw;
      create server remote foreign data wrapper postgres_fdw options (host 'localhost', dbname 'elsewhere');
      create foreign table public.remote_items (id int) server remote options (table_name 'items');`,
    exclude: ["public.remote_items"],
    expect: "fixed",
    codes: ["EXTENSION_NOT_CREATABLE"],
  },
  {
    name: "roles on the source only: a policy, a regrole column, grants",
    admin: (r) => `create role ${r}_pol nologin; create role ${r}_val nologin;`,
    after: `
      create table public.secure (id int primary key, who regrole);
      alter table public.secure enable row level security;
      create policy p on public.secure for select to %POL% using (true);
      grant select on public.secure to %POL%;
      insert into public.secure values (1, '%VAL%'), (2, 'pg_monitor'), (3, null);`,
    expect: "fixed",
    codes: ["REFERENCED_OBJECT_MISSING", "SCHEMA_MISSING_DEPENDENCY"],
    warnings: ["PRIVILEGES_NOT_CARRIED"],
  },
  {
    name: "database- and role-level settings the dump does not carry",
    source: `
      create schema app;
      create function app.greet() returns text language sql as $$ select 'hi' $$;
      create table app.t (id int primary key, g text default app.greet());
      insert into app.t (id) select generate_series(1, 5);`,
    admin: (r) =>
      `alter database %DB% set search_path = app, public; alter database %DB% set statement_timeout = '5min'; select '${r}'`,
    expect: "ready",
    warnings: ["SOURCE_SETTINGS_NOT_CARRIED"],
  },
  {
    name: "an excluded table other objects use",
    source: `
      create table public.items (id int primary key);
      insert into public.items select generate_series(1, 10);
      create table public.nokey (a int);
      create table public.audit_log (what text);
      create function public.rows_of_nokey() returns setof public.nokey language sql as 'select * from public.nokey';
      create view public.nokey_view as select a from public.nokey;
      create function public.log_items() returns trigger language plpgsql as $$
      begin insert into audit_log values (tg_op); return null; end $$;
      create trigger items_audit after insert on public.items for each statement execute function public.log_items();`,
    exclude: ["public.nokey", "public.audit_log"],
    notCompared: ["public.nokey", "public.audit_log"],
    expect: "fixed",
    codes: ["EXCLUDED_TABLE_DEPENDENTS", "EXCLUDED_TABLE_IN_TRIGGER"],
    warnings: ["EXCLUDED_TABLE_IN_FUNCTIONS"],
  },
  {
    name: "an extension that needs another, in its own schema",
    admin: () => `
      create schema extras;
      create extension cube schema extras;
      create extension earthdistance schema extras;
      grant usage on schema extras to public;`,
    after: `set search_path = public, extras;
      create table public.places (id int primary key, at extras.earth);
      insert into public.places select g, extras.ll_to_earth(g, g) from generate_series(1, 9) g;`,
    expect: "fixed",
    codes: ["EXTENSION_NOT_CREATABLE"],
  },
  {
    name: "privileges missing on both sides: FORCE RLS, a large object of another role, schemas",
    source: `
      create table public.forced (id int primary key, v text);
      insert into public.forced select g, 'f' || g from generate_series(1, 6) g;
      alter table public.forced enable row level security;
      alter table public.forced force row level security;
      create schema app;
      create table app.t (id int primary key);
      insert into app.t select generate_series(1, 3);`,
    admin: (r) => `
      create role ${r}_lo nologin;
      do $$ declare o oid; begin
        o := lo_from_bytea(0, 'bytes');
        execute format('alter large object %s owner to %I', o, '${r}_lo');
      end $$;
      revoke create on database %DB% from %OWNER%;`,
    targetAdmin: "create schema app;",
    // The target's schema refusal shows twice: as a privilege and in the rehearsal.
    codes: [
      "LARGE_OBJECTS_UNREADABLE",
      "RLS_BLOCKS_COPY",
      "SCHEMA_NEEDS_PRIVILEGE",
      "SOURCE_CANNOT_CREATE_SCHEMA",
      "TARGET_CANNOT_CREATE_TABLES",
    ],
    expect: "fixed",
  },
  {
    name: "a regclass value naming a table left out",
    source: `
      create table public.gone (id int primary key);
      create table public.refs (id int primary key, c regclass);
      insert into public.refs values (1, 'public.refs'), (2, 'public.gone');`,
    exclude: ["public.gone"],
    expect: "blocked",
    codes: ["REFERENCED_OBJECT_MISSING"],
  },
];

function blockers(report: CheckReport): Finding[] {
  return report.blockers.filter((f) => !f.code.startsWith("CONNECTION_BUDGET"));
}

/** Runs a finding's SQL where and as whom it says (the test's superuser stands for an administrator and for owners). */
async function runFix(f: Finding, source: LocalDatabase, target: LocalDatabase): Promise<void> {
  const sql = f.sql!;
  const db = sql.side === "source" ? source : target;
  if (sql.by === "migration role") await asOwner(db, sql.statements);
  else await asSuperuser(db, sql.statements);
}

describe.each(testPairs())("check's ready means start succeeds, $source → $target", (pair) => {
  const label = pairLabel(pair);

  for (const h of HOSTILE) {
    it(`${label}: ${h.name}`, async () => {
      const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
      const r = `r${randomBytes(4).toString("hex")}`;
      const fill = (s: string) =>
        s
          .replaceAll("%POL%", `${r}_pol`)
          .replaceAll("%VAL%", `${r}_val`)
          .replaceAll("%DB%", source.database)
          .replaceAll("%OWNER%", source.role);
      if (h.source) await asOwner(source, h.source);
      if (h.admin) await asSuperuser(source, fill(h.admin(r)));
      if (h.after) await asOwner(source, fill(h.after));
      if (h.targetAdmin) await asSuperuser(target, h.targetAdmin);
      const opts = {
        source: parseConnUrl(source.url, "source"),
        target: parseConnUrl(target.url, "target"),
        ...(h.exclude ? { exclude: h.exclude } : {}),
      };
      let report = await runCheck(opts);
      let rounds = 0;
      const applied: string[] = [];
      while (!report.ok && rounds < 4) {
        const fixable = blockers(report).filter((f) => f.sql);
        if (fixable.length === 0) break;
        for (const f of fixable) {
          await runFix(f, source, target);
          applied.push(f.code);
        }
        rounds++;
        report = await runCheck(opts);
      }
      const outcome = report.ok ? (rounds === 0 ? "ready" : "fixed") : "blocked";
      const remaining = blockers(report).map((f) => f.code);
      expect({ outcome, remaining: blockers(report).map((f) => [f.code, f.message]), applied }).toMatchObject(
        { outcome: h.expect },
      );
      const codes = [...new Set(h.expect === "blocked" ? remaining : applied)].sort();
      expect(codes).toEqual(h.codes ?? []);
      for (const w of h.warnings ?? []) expect(report.warnings.map((f) => f.code)).toContain(w);
      if (!report.ok) return;
      // The property: check passed, so start --no-stream succeeds and the contents are equal.
      const result = await runMigration(streamContext(source, target), {
        jobs: 1,
        indexJobs: 1,
        stream: false,
        ...(h.exclude ? { exclude: h.exclude } : {}),
      });
      expect(result.outcome).toBe("indexed");
      await assertSameContents(source, target, { exclude: h.notCompared ?? [] });
    });
  }
});
