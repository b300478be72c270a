import type pg from "pg";
import type { SourceTable } from "../catalog/index.js";
import { type Findings, nameList, tableName } from "./types.js";

// Query text is never shown: it may carry application data or secrets.
const LONG_TRANSACTIONS_SQL = `
select a.pid, a.usename as "user", a.application_name as app, a.state, a.backend_type,
       extract(epoch from now() - a.xact_start)::int8 as age,
       a.query like 'autovacuum: % (to prevent wraparound)' as wraparound,
       substring(a.query from '^autovacuum: (?:VACUUM|ANALYZE|VACUUM ANALYZE) (.*) \\(to prevent wraparound\\)$') as vacuum_target,
       coalesce((select array_agg(distinct l.relation::int8) from pg_locks l
                  where l.pid = a.pid and l.locktype = 'relation' and l.relation = any ($2::oid[])), '{}') as locked
from pg_stat_activity a
where a.datname = current_database() and a.pid <> pg_backend_pid()
  and coalesce(a.application_name, '') not like 'pgferry:%'
  and (a.xact_start < now() - make_interval(secs => $1)
       or a.query like 'autovacuum: % (to prevent wraparound)')
order by a.xact_start`;

// What the anti-wraparound vacuum will run on next: visible even when pg_stat_activity hides workers.
const FREEZE_DUE_SQL = `
select c.oid::int8 as oid, age(c.relfrozenxid)::int8 as xid_age
from pg_class c
where c.oid = any ($1::oid[]) and c.relkind = 'r'
  and age(c.relfrozenxid) > current_setting('autovacuum_freeze_max_age')::int8`;

/** A row of LONG_TRANSACTIONS_SQL: int8 arrives as text (age, the locked oids). */
interface LongTransactionRow {
  pid: number;
  user: string | null;
  app: string | null;
  state: string | null;
  backend_type: string | null;
  age: string | null;
  wraparound: boolean | null;
  vacuum_target: string | null;
  locked: string[];
}

/**
 * Sessions that would make installing a capture trigger wait: transactions open for long, and
 * anti-wraparound autovacuums (which, unlike ordinary ones, never yield their lock).
 */
export async function checkActivity(
  client: pg.ClientBase,
  tables: readonly SourceTable[],
  longSeconds: number,
  findings: Findings,
): Promise<void> {
  const byOid = new Map<number, string>();
  for (const t of tables) {
    byOid.set(t.oid, tableName(t));
    for (const l of t.leaves) byOid.set(l.oid, tableName(l));
  }
  const oids = [...byOid.keys()];
  const { rows } = await client.query<LongTransactionRow>(LONG_TRANSACTIONS_SQL, [longSeconds, oids]);
  for (const r of rows) {
    const locked = r.locked.map((o) => byOid.get(Number(o))!).filter(Boolean);
    const on = locked.length > 0 ? ` It holds locks on ${nameList(locked)}.` : "";
    if (r.wraparound) {
      findings.warning({
        code: "AUTOVACUUM_WRAPAROUND",
        side: "source",
        ...(r.vacuum_target ? { table: String(r.vacuum_target) } : {}),
        message: `An anti-wraparound autovacuum (pid ${r.pid}) is running on ${r.vacuum_target ?? "a table"} for ${r.age ?? "?"} s; it does not give way, so installing a capture trigger on that table waits until it ends.`,
        fix: "Let it finish before `pgferry start` (do not cancel it: it restarts at once); pgferry retries each table with a short lock timeout meanwhile.",
      });
      continue;
    }
    findings.warning({
      code: "LONG_TRANSACTION",
      side: "source",
      ...(locked.length === 1 ? { table: locked[0] } : {}),
      message: `A transaction (pid ${r.pid}, user ${r.user ?? "?"}${r.app ? `, application "${r.app}"` : ""}, ${r.state ?? "state unknown"}) has been open for ${r.age} s.${on} Installing a capture trigger waits behind it, and writers queue behind that.`,
      fix: `End it before \`pgferry start\` (commit it, or SELECT pg_terminate_backend(${r.pid});). pgferry only waits a few seconds per attempt and retries, so it delays the start but never freezes the application.`,
    });
  }
  await checkFreezeDue(client, byOid, findings);
}

async function checkFreezeDue(client: pg.ClientBase, byOid: Map<number, string>, findings: Findings) {
  const { rows } = await client.query<{ oid: string; xid_age: string }>(FREEZE_DUE_SQL, [[...byOid.keys()]]);
  if (rows.length === 0) return;
  const names = rows.map((r) => byOid.get(Number(r.oid))!);
  findings.warning({
    code: "WRAPAROUND_VACUUM_DUE",
    side: "source",
    message: `Tables past autovacuum_freeze_max_age, due for an anti-wraparound vacuum that blocks trigger installation while it runs: ${nameList(names)}.`,
    fix: "Run VACUUM (FREEZE) on them at a quiet time before `pgferry start`, or wait until autovacuum has processed them.",
  });
}
