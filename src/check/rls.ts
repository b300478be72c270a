import { excludeFlag, type SourceTable } from "../catalog/index.js";
import type { ServerFacts } from "./connections.js";
import { sqlName } from "./format.js";
import { type Findings, tableName } from "./types.js";

/**
 * pgferry's sessions run with row_security = off, so a policy that applies to the connected
 * role makes the copy fail loudly instead of silently missing rows. Policies apply unless the
 * role is superuser, has BYPASSRLS, or owns the table and the table does not FORCE them.
 */
export function checkRowSecurity(
  tables: readonly SourceTable[],
  source: ServerFacts,
  findings: Findings,
): void {
  const bypass = source.superuser || source.bypassRls;
  for (const t of tables.filter((x) => x.rlsEnabled || x.rlsForced)) {
    const name = tableName(t);
    const q = sqlName(t.schema, t.name);
    const applies = !bypass && t.rlsEnabled && (t.rlsForced || !t.owned);
    if (!applies) {
      findings.note({
        code: "RLS_ENABLED",
        side: "source",
        table: name,
        message: `${name} has row-level security enabled; the source role ${bypass ? "bypasses it" : "owns the table, so its policies do not filter what pgferry reads"}. The policies are recreated on the target.`,
        fix: "Nothing to do; keep the table's owner (or FORCE setting) unchanged during the migration.",
      });
      continue;
    }
    findings.blocker({
      code: "RLS_BLOCKS_COPY",
      side: "source",
      table: name,
      message: t.rlsForced
        ? `${name} has FORCE ROW LEVEL SECURITY, so its policies apply even to its owner; reading it with row_security = off fails (pgferry refuses to copy a filtered subset).`
        : `${name} has row-level security and is owned by ${t.owner}, not by the source role; reading it with row_security = off fails (pgferry refuses to copy a filtered subset).`,
      fix: t.rlsForced
        ? `During the migration run: ALTER TABLE ${q} NO FORCE ROW LEVEL SECURITY; (and FORCE it again on the target after cutover), or leave it out with ${excludeFlag([t])}.`
        : `Connect as the table's owner (${t.owner}), or disable it during the migration: ALTER TABLE ${q} DISABLE ROW LEVEL SECURITY; or leave it out with ${excludeFlag([t])}.`,
      sql: {
        side: "source",
        by: t.rlsForced && t.owned ? "migration role" : "owner",
        statements: `ALTER TABLE ${q} ${t.rlsForced ? "NO FORCE" : "DISABLE"} ROW LEVEL SECURITY;`,
      },
    });
  }
}
