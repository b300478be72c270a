import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type pg from "pg";
import { prng } from "../../src/demo/prng.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { asOwner, ownerSession } from "./servers.js";

/**
 * Tables without a key (issue 11) and a workload that hurts them: identical duplicate rows,
 * deletes and updates of ONE of several identical rows, updates that change nothing, json and
 * point columns (no equality operator), a leaf attached with another column order, TRUNCATEs.
 *
 * kl.memberships   a join table without any key (json, point)
 * kl.audit_log     an append-only log without a key (json, float8), large: its copy takes a while
 * kl.nullable_uniq a table whose only unique index is over a nullable column (NULLs repeat)
 * kl.parted        a partitioned table without a key; kl.parted_b attached with its own column order
 * public.pgbench_history, made by `pgbench -i`
 */
export const KEYLESS_SCHEMA_SQL = `
create schema kl;
create table kl.memberships (user_id int not null, group_id int not null, role text, meta json, spot point);
create table kl.audit_log (at timestamptz, actor text, action text, payload json, ratio double precision);
create table kl.nullable_uniq (code text, n int, note text, constraint nullable_uniq_code unique (code));
create table kl.parted (region int not null, v text, amount float8) partition by range (region);
create table kl.parted_a partition of kl.parted for values from (0) to (5);
create table kl.parted_b (amount float8, v text, region int not null);
alter table kl.parted attach partition kl.parted_b for values from (5) to (10);
`;

export const KEYLESS_TABLES = [
  "kl.memberships",
  "kl.audit_log",
  "kl.nullable_uniq",
  "kl.parted",
  "public.pgbench_history",
] as const;

/** The schema, pgbench's tables, and rows with many exact duplicates. */
export async function createKeylessTables(db: LocalDatabase, auditRows: number): Promise<void> {
  await asOwner(db, KEYLESS_SCHEMA_SQL);
  // pgbench's own tables (pgbench_history has no key); -q: quiet progress.
  await promisify(execFile)("/usr/bin/pgbench", ["-i", "-q", "-s", "1", db.url], {
    env: { ...process.env, PGOPTIONS: "" },
  });
  await asOwner(
    db,
    `insert into kl.memberships
       select g % 20, g % 5, case when g % 3 = 0 then 'admin' end,
              case when g % 4 = 0 then '{"a":  1, "a": 2}'::json else json_build_object('g', g % 6) end,
              point(g % 3 * 0.1, 0.2 + 0.1)
         from generate_series(1, 300) g;
     insert into kl.audit_log
       select '2024-01-01 00:00:00+00'::timestamptz + (g % 500) * interval '1 second', 'actor' || g % 7, 'login',
              json_build_object('n', g % 50, 'pad', repeat('x', 60)), (g % 13) / 7.0
         from generate_series(1, ${Math.trunc(auditRows)}) g;
     insert into kl.nullable_uniq
       select case when g % 5 = 0 then null else 'c' || g end, g % 4, case when g % 5 = 0 then 'same' else 'n' || g end
         from generate_series(1, 200) g;
     insert into kl.parted select g % 10, 'v' || g % 9, g % 4 * 0.1 from generate_series(1, 300) g;
     insert into public.pgbench_history (tid, bid, aid, delta, mtime)
       select g % 3 + 1, 1, g % 10 + 1, g % 4, '2024-01-01'::timestamp from generate_series(1, 100) g;
     analyze;`,
  );
}

export interface KeylessStats {
  transactions: number;
  committed: number;
  fenced: number;
  statements: Record<string, number>;
  errors: string[];
}

export interface KeylessWriter {
  readonly stats: KeylessStats;
  /** Resolves once no client can still truncate: each has ended the transaction it was in. */
  stopTruncating(): Promise<void>;
  stop(): Promise<KeylessStats>;
}

type Statement = [kind: string, sql: string, params: unknown[]];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

/** One random statement; small value spaces, so rows repeat and deletes find their row. */
function statementFor(rand: () => number, truncates: boolean): Statement {
  const u = Math.floor(rand() * 20);
  const g = Math.floor(rand() * 5);
  const r = rand();
  const table = pick(rand, ["memberships", "audit_log", "nullable_uniq", "parted", "history"] as const);
  if (truncates && r < 0.0015) {
    return table === "parted" && rand() < 0.5
      ? ["truncate-leaf", "truncate kl.parted_b", []]
      : ["truncate", "truncate kl.memberships", []];
  }
  switch (table) {
    case "memberships":
      if (r < 0.35) {
        const copies = 1 + Math.floor(rand() * 3);
        const meta = pick(rand, ['{"a":  1, "a": 2}', '{"g":1}', '{ "g" : 1 }', "[1,2.50]"]);
        return [
          "insert-duplicates",
          `insert into kl.memberships select $1, $2, null, $3::json, point($4::float8 * 0.1, 0.30000000000000004)
             from generate_series(1, ${copies})`,
          [u, g, meta, Math.floor(rand() * 3)],
        ];
      }
      if (r < 0.6)
        return [
          "delete-one-of-identical",
          `delete from kl.memberships where ctid = (select ctid from kl.memberships
             where user_id = $1 and group_id = $2 limit 1)`,
          [u, g],
        ];
      if (r < 0.8)
        return [
          "update-one-of-identical",
          `update kl.memberships set role = coalesce(role, '') || 'x', spot = point(spot[0] + 0.1, spot[1])
            where ctid = (select ctid from kl.memberships where user_id = $1 and group_id = $2 limit 1)`,
          [u, g],
        ];
      if (r < 0.9)
        return ["update-unchanged", "update kl.memberships set role = role where user_id = $1", [u]];
      return [
        "update-json",
        "update kl.memberships set meta = $2::json where user_id = $1",
        [u, pick(rand, ['{"b" :true}', "[ ]", '"text"'])],
      ];
    case "audit_log":
      if (r < 0.7)
        return [
          "insert-duplicates",
          `insert into kl.audit_log select '2024-01-01 00:00:00+00'::timestamptz + $1 * interval '1 second',
             'actor' || $2, 'login', json_build_object('n', $2::int), $2::int / 7.0 from generate_series(1, 2)`,
          [u, g],
        ];
      return [
        "delete-one-of-identical",
        `delete from kl.audit_log where ctid = (select ctid from kl.audit_log
           where at = '2024-01-01 00:00:00+00'::timestamptz + $1 * interval '1 second' and actor = 'actor' || $2 limit 1)`,
        [u, g],
      ];
    case "nullable_uniq":
      if (r < 0.4)
        return ["insert-null-duplicate", "insert into kl.nullable_uniq values (null, $1, 'same')", [g]];
      if (r < 0.6)
        return [
          "delete-one-of-identical",
          `delete from kl.nullable_uniq where ctid = (select ctid from kl.nullable_uniq
             where code is null and n = $1 limit 1)`,
          [g],
        ];
      if (r < 0.8)
        return [
          "update-one-of-identical",
          `update kl.nullable_uniq set n = n + 1 where ctid = (select ctid from kl.nullable_uniq
             where code is null and n = $1 limit 1)`,
          [g],
        ];
      return ["set-code", "update kl.nullable_uniq set code = null where code = $1", [`c${u * 10 + g}`]];
    case "parted":
      if (r < 0.5)
        return [
          "insert-duplicates",
          "insert into kl.parted select $1, 'v' || $2, $2::int * 0.1 from generate_series(1, 2)",
          [u % 10, g],
        ];
      if (r < 0.75)
        return [
          "delete-one-of-identical",
          `delete from kl.parted where (tableoid, ctid) = (select tableoid, ctid from kl.parted
             where region = $1 and v = 'v' || $2 limit 1)`,
          [u % 10, g],
        ];
      // Moves a row to the other partition: a delete on one leaf, an insert on the other.
      return [
        "move-partition",
        `update kl.parted set region = 9 - region where (tableoid, ctid) = (select tableoid, ctid from kl.parted
           where region = $1 limit 1)`,
        [u % 10],
      ];
    default:
      if (r < 0.6)
        return [
          "insert-duplicates",
          `insert into public.pgbench_history (tid, bid, aid, delta, mtime)
             select $1, 1, $2, 5, '2024-01-01'::timestamp from generate_series(1, 2)`,
          [g + 1, u + 1],
        ];
      return [
        "delete-one-of-identical",
        `delete from public.pgbench_history where ctid = (select ctid from public.pgbench_history
           where tid = $1 and aid = $2 limit 1)`,
        [g + 1, u + 1],
      ];
  }
}

const EXPECTED = new Set(["23505", "40P01", "40001", "55P03"]);

/** Several clients, each running short transactions of 1–3 random statements. */
export function startKeylessWriter(
  db: LocalDatabase,
  opts: { clients?: number; seed?: number; pauseMs?: number; truncates?: boolean } = {},
): KeylessWriter {
  const stats: KeylessStats = { transactions: 0, committed: 0, fenced: 0, statements: {}, errors: [] };
  let stopping = false;
  let truncates = opts.truncates ?? true;
  // Per client: how many transactions it has ended; stopTruncating waits for each to move on.
  const ended: number[] = [];
  const loop = async (seed: number, me: number) => {
    ended[me] = 0;
    const rand = prng(seed);
    let client: pg.Client | undefined;
    while (!stopping) {
      try {
        client ??= await ownerSession(db, "keyless-writer");
        stats.transactions++;
        await client.query("begin");
        const n = 1 + Math.floor(rand() * 3);
        for (let i = 0; i < n; i++) {
          const [kind, sql, params] = statementFor(rand, truncates);
          stats.statements[kind] = (stats.statements[kind] ?? 0) + 1;
          await client.query(sql, params);
        }
        await client.query("commit");
        stats.committed++;
      } catch (err) {
        const code = (err as { code?: string }).code ?? "";
        await client?.query("rollback").catch(() => {});
        if (code === "25006") stats.fenced++;
        else if (!EXPECTED.has(code)) {
          if (stats.errors.length < 10) stats.errors.push(`${code} ${(err as Error).message}`);
          await client?.end().catch(() => {});
          client = undefined;
        }
      }
      ended[me]!++;
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 2 * (opts.pauseMs ?? 10))));
    }
    ended[me] = Number.POSITIVE_INFINITY;
    await client?.end().catch(() => {});
  };
  const loops = Array.from({ length: opts.clients ?? 3 }, (_, i) => loop((opts.seed ?? 1) * 1000 + i, i));
  return {
    stats,
    async stopTruncating() {
      truncates = false;
      const before = [...ended];
      while (ended.some((n, i) => n <= before[i]!)) await new Promise((r) => setTimeout(r, 5));
    },
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return stats;
    },
  };
}
