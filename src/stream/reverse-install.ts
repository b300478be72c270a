import type pg from "pg";
import {
  captureTargetOf,
  type DropOptions,
  dropCaptureObjects,
  dropTriggers,
  installCaptureSchema,
  installTableCapture,
} from "../capture/index.js";
import type { MigrationContext } from "../context.js";
import { connect, qualified, withTransaction } from "../db/index.js";
import { closeRollbackWindow, migrationToken, openRollbackWindow, recordEvent } from "../state/index.js";
import { readStreamTables } from "./table-state.js";

const REVERSE_TABLES_SQL = `
create table if not exists pgferry.reverse_tables (
  id int primary key,
  schema_name text not null,
  table_name text not null,
  position text not null,
  changes_applied bigint not null default 0,
  applied_at timestamptz
)`;

const LEAVES_SQL = `
with recursive leaves (oid) as (
  select to_regclass($1)::oid
  union all select i.inhrelid from leaves l join pg_inherits i on i.inhparent = l.oid)
select n.nspname as schema, c.relname as name, c.oid::int8 as oid
  from leaves l join pg_class c on c.oid = l.oid join pg_namespace n on n.oid = c.relnamespace
 where c.relkind = 'r'`;

/**
 * Installs capture on the TARGET (capture schema and triggers on every replicated table, with
 * the same table ids) and records its start position on the source, in
 * pgferry.reverse_tables (created there). Call it after the final catch-up and before the
 * application switches. Idempotent: positions already recorded are kept. Returns the position.
 */
export async function installReverseCapture(ctx: MigrationContext): Promise<string> {
  const tgt = await connect(ctx.target, { stage: "cutover", lockTimeoutMs: 5000 });
  try {
    const src = await connect(ctx.source, { stage: "cutover", statementTimeoutMs: 60_000 });
    try {
      const tables = await readStreamTables(tgt);
      await installCaptureSchema(
        tgt,
        { token: await migrationToken(tgt), label: ctx.target.display },
        "target",
      );
      for (const t of tables) {
        const leaves =
          t.kind === "partitioned"
            ? (
                await tgt.query<{ schema: string; name: string; oid: string }>(LEAVES_SQL, [
                  qualified(t.schema, t.name),
                ])
              ).rows.map((r) => ({ schema: r.schema, name: r.name, oid: Number(r.oid) }))
            : [];
        await installTableCapture(tgt, captureTargetOf(t, leaves), {
          signal: ctx.signal,
          onWait: (waiters, attempt) =>
            ctx.emit({ type: "lock:wait", table: `${t.schema}.${t.name}`, attempt, waiters }),
        });
      }
      const { rows } = await tgt.query<{ s: string }>("select txid_current_snapshot()::text as s");
      const start = rows[0]!.s;
      await src.query(REVERSE_TABLES_SQL);
      await src.query(
        `insert into pgferry.reverse_tables (id, schema_name, table_name, position)
         select x.id, x.s, x.n, $4 from unnest($1::int[], $2::text[], $3::text[]) as x(id, s, n)
         on conflict (id) do nothing`,
        [tables.map((t) => t.id), tables.map((t) => t.schema), tables.map((t) => t.name), start],
      );
      await openRollbackWindow(tgt, start);
      await recordEvent(
        tgt,
        "info",
        "reverse-capture",
        "Capture installed on the target for the rollback window.",
        {
          position: start,
        },
      );
      return start;
    } finally {
      await src.end().catch(() => {});
    }
  } finally {
    await tgt.end().catch(() => {});
  }
}

/**
 * The inverse of installReverseCapture, for a cutover undone before its switch: the target's
 * capture triggers, log and functions, the migration's rollback-window flag and position (in
 * one target transaction), then the reverse positions on the source. The control tables in
 * the target's schema pgferry stay. Idempotent.
 */
export async function removeReverseCapture(
  target: pg.ClientBase,
  source: pg.ClientBase,
  opts: DropOptions,
): Promise<void> {
  await dropTriggers(target, "target", opts);
  await withTransaction(target, async () => {
    await dropCaptureObjects(target);
    await closeRollbackWindow(target);
  });
  await source.query("drop table if exists pgferry.reverse_tables");
}
