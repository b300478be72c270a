import type pg from "pg";
import { readCaptureOwner } from "../capture/index.js";
import { SYSTEM_SCHEMAS } from "../catalog/index.js";
import type { ConnInfo } from "../db/index.js";
import { isSameSource, readMigrationIfAny } from "../state/index.js";
import { formatBytes, plural } from "./format.js";
import { type Findings, nameList, tableName } from "./types.js";

const USER_TABLES_SQL = `
select n.nspname as schema, c.relname as name
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and not c.relispartition
  and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
  and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
order by 1, 2`;

export interface TargetState {
  userTables: string[];
  /** The migration recorded in the target's control schema, if any. */
  migration:
    | {
        sourceDisplay: string;
        phase: string;
        sameSource: boolean;
        token: string;
        /** Seconds since the source heartbeat the target last applied; null before the first. */
        heartbeatAge: number | null;
      }
    | undefined;
}

/**
 * The target must hold no user tables, so the copy cannot mix with existing rows; a target that
 * holds pgferry's control schema for this same source is one being resumed.
 */
export async function checkTarget(
  client: pg.ClientBase,
  sourceClient: pg.ClientBase,
  source: ConnInfo,
  requireEmpty: boolean,
  findings: Findings,
): Promise<TargetState> {
  const userTables = (
    await client.query<{ schema: string; name: string }>(USER_TABLES_SQL, [SYSTEM_SCHEMAS])
  ).rows.map(tableName);
  let migration: TargetState["migration"];
  const m = await readMigrationIfAny(client);
  if (m) {
    migration = {
      sourceDisplay: m.source_display,
      phase: m.phase,
      token: m.token,
      heartbeatAge: m.heartbeat_age,
      sameSource: await isSameSource(sourceClient, source, m.source_identity),
    };
  }
  if (migration && !migration.sameSource) {
    findings.blocker({
      code: "TARGET_HAS_OTHER_MIGRATION",
      side: "target",
      message: `The target already holds a pgferry migration from another source (${migration.sourceDisplay}, phase ${migration.phase}).`,
      fix: "Use another target database, or finish or remove that migration first (`pgferry cleanup` with its --source).",
    });
  } else if (migration) {
    findings.note({
      code: "MIGRATION_IN_PROGRESS",
      side: "target",
      message: `The target holds a pgferry migration from this source (phase ${migration.phase}).`,
      fix: "`pgferry start` resumes it; `pgferry status` shows where it stands.",
    });
  }
  if (userTables.length > 0 && requireEmpty) {
    findings.blocker({
      code: "TARGET_NOT_EMPTY",
      side: "target",
      message: `The target database already has ${plural(userTables.length, "table")}: ${nameList(userTables)}.`,
      fix: migration?.sameSource
        ? "These are this migration's tables: `pgferry start` resumes it. To start over, run `pgferry cleanup` and drop them."
        : "Use an empty target database, or drop those tables first (pgferry never writes into tables it did not create).",
    });
  }
  return { userTables, migration };
}

const SOURCE_LEFTOVER_SQL = `
select exists (select 1 from pg_namespace where nspname = 'pgferry') as has_schema,
       (select count(*) from pg_trigger where tgname like 'pgferry\\_%' and not tgisinternal)::int as triggers`;

/** A capture schema or triggers on the source while the target knows no migration: an earlier run's leftovers. */
export async function checkSourceLeftovers(
  client: pg.ClientBase,
  target: TargetState,
  findings: Findings,
): Promise<void> {
  const r = (await client.query<{ has_schema: boolean; triggers: number }>(SOURCE_LEFTOVER_SQL)).rows[0]!;
  if (!r.has_schema && r.triggers === 0) return;
  const owner = await readCaptureOwner(client);
  const ours = target.migration?.sameSource ? target.migration.token : undefined;
  if (owner !== "absent" && owner !== null && owner.token !== ours) {
    findings.blocker({
      code: "SOURCE_IN_USE",
      side: "source",
      message: `The source's changes are captured for another pgferry migration (its state is on ${owner.label}); two migrations from one source would lose changes.`,
      fix: "Finish or abandon that migration first: `pgferry cleanup` with its target (--force if it still streams). If that target is gone for good, `pgferry cleanup --force` with this target removes its capture.",
    });
    return;
  }
  if (target.migration?.sameSource) return;
  findings.warning({
    code: "SOURCE_LEFTOVERS",
    side: "source",
    message: `The source holds pgferry objects from an earlier run (${r.has_schema ? "schema pgferry, " : ""}${r.triggers} capture trigger(s)); they still log every write.`,
    fix: "Run `pgferry cleanup` against the target of that run, or drop schema pgferry CASCADE on the source (which drops its capture triggers' functions too).",
  });
}

/** Nothing applied for this long while the log holds changes: the log only grows. */
const STALLED_LOG_SECONDS = 10 * 60;

/**
 * The change log of this migration on the source: its size, and a warning when nothing has
 * applied it for a while (no `pgferry start` streaming): it grows without bound until then
 * (issue 17, item 14: 349 MB in 25 minutes at 20 transactions a second).
 */
export async function checkChangeLog(
  client: pg.ClientBase,
  target: TargetState,
  findings: Findings,
): Promise<void> {
  if (!target.migration?.sameSource) return;
  const { rows } = await client.query<{ bytes: string | null; rows: string | null }>(
    `select pg_total_relation_size(to_regclass('pgferry.changes'))::int8::text as bytes,
            (select greatest(reltuples, 0)::int8::text from pg_class where oid = to_regclass('pgferry.changes')) as rows`,
  );
  const bytes = Number(rows[0]?.bytes ?? 0);
  if (!rows[0]?.bytes) return;
  const size = `${formatBytes(bytes)}, about ${Number(rows[0].rows ?? 0).toLocaleString("en-US")} rows`;
  const age = target.migration.heartbeatAge;
  const streaming = ["streaming", "cutover", "switched"].includes(target.migration.phase);
  if (streaming && bytes > 0 && (age === null || age > STALLED_LOG_SECONDS)) {
    findings.warning({
      code: "CHANGE_LOG_GROWING",
      side: "source",
      message: `The source's change log holds ${size}, and the target has applied nothing for ${age === null ? "as long as it exists" : `${Math.round(age / 60)} min`}: it grows with every write until a stream applies and trims it.`,
      fix: "Run `pgferry start` (it streams, and trims the log behind what it applied); or `pgferry cleanup --force` to abandon the migration and remove the capture.",
    });
    return;
  }
  findings.note({
    code: "CHANGE_LOG",
    side: "source",
    message: `The source's change log holds ${size}.`,
    fix: "Nothing to do: the stream trims it behind what it has applied.",
  });
}
