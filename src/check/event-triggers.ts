import type pg from "pg";
import type { SourceTable } from "../catalog/index.js";
import { plural } from "./format.js";
import { type Findings, tableName } from "./types.js";

const EVENT_TRIGGERS_SQL = `
select e.evtname as name, e.evtevent as event, e.evtenabled as enabled,
       p.oid::regprocedure::text as function, p.prosrc as body
  from pg_catalog.pg_event_trigger e join pg_catalog.pg_proc p on p.oid = e.evtfoid
 where not exists (select 1 from pg_catalog.pg_depend d
                    where d.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass and d.objid = e.oid and d.deptype = 'e')
 order by 1`;

/** The migrated tables a function's body names (a text match: plpgsql records no dependencies). */
function namedTables(body: string, tables: readonly SourceTable[]): string[] {
  const text = body.toLowerCase();
  return tables
    .filter((t) =>
      new RegExp(`(^|[^a-z0-9_$"])"?${regexLiteral(t.name.toLowerCase())}"?($|[^a-z0-9_$"])`).test(text),
    )
    .map(tableName);
}

function regexLiteral(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Event triggers on the source (issue 12): they fire on pgferry's own DDL there (installing
 * the capture, raising and lowering the fence, cleanup). Their writes into migrated tables
 * pass the fence in pgferry's sessions and are captured; they are not created on the target.
 */
export async function checkEventTriggers(
  client: pg.ClientBase,
  tables: readonly SourceTable[],
  findings: Findings,
): Promise<void> {
  const rows = (
    await client.query<{ name: string; event: string; enabled: string; function: string; body: string }>(
      EVENT_TRIGGERS_SQL,
    )
  ).rows;
  if (rows.length === 0) return;
  const described = rows.map((r) => {
    const writes = namedTables(r.body, tables);
    const disabled = r.enabled === "D" ? ", disabled" : "";
    return `${r.name} (on ${r.event}${disabled}, calls ${r.function}${writes.length > 0 ? `; its body names ${writes.join(", ")}` : ""})`;
  });
  findings.warning({
    code: "EVENT_TRIGGERS",
    side: "source",
    message: `The source has ${plural(rows.length, "event trigger")}: ${described.join("; ")}. They fire on pgferry's own DDL on the source too (installing the capture triggers, raising and lowering the write fence, cleanup). Rows they write into migrated tables then pass the fence and are captured: before the switch they reach the target like any write; written after it (during cleanup) they stay on the source. Event triggers are not created on the target (only a superuser may create them).`,
    fix: "Nothing to do for pgferry. To keep them after the move, have an administrator create them on the target (on RDS as rds_superuser) after the cutover.",
  });
}
