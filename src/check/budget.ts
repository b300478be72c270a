import type pg from "pg";
import { connectionSlots, sourceConnectionBudget } from "../db/index.js";
import type { ConnectionBudget, Findings } from "./types.js";

/** The free slots on one side, against what pgferry will open there. */
export async function connectionBudget(client: pg.ClientBase, needed: number): Promise<ConnectionBudget> {
  return { ...(await connectionSlots(client)), needed };
}

/** A shortfall is a blocker; leaving the application fewer than ~10% of the slots is a warning. */
export function reportBudget(
  side: "source" | "target",
  b: ConnectionBudget,
  jobs: number,
  findings: Findings,
): void {
  const where = b.limitedBy === "server" ? "the server" : `the ${b.limitedBy}'s connection limit`;
  const state = `${b.available} free (max_connections ${b.maxConnections}, ${b.reserved} reserved, ${b.inUse} in use; limited by ${where})`;
  if (b.available < b.needed) {
    const extra = sourceConnectionBudget(0);
    const maxJobs = b.available - extra;
    const least = sourceConnectionBudget(1);
    const raise =
      b.limitedBy === "role"
        ? "raise the role's limit (ALTER ROLE … CONNECTION LIMIT …)"
        : b.limitedBy === "database"
          ? "raise the database's limit (ALTER DATABASE … CONNECTION LIMIT …)"
          : "raise max_connections";
    findings.blocker({
      code: "CONNECTION_BUDGET",
      side,
      message: `pgferry needs ${b.needed} connections to the ${side} (--jobs ${jobs} + ${extra}), but only ${state}.`,
      // --jobs below 1 does not exist: past that, only freeing slots or a higher limit helps.
      fix:
        maxJobs >= 1
          ? `Run with --jobs ${maxJobs} (or less), or ${raise}.`
          : `pgferry needs at least ${least} (--jobs 1 + ${extra}) and ${b.available} are free: free ${least - b.available} (stop idle workers, shrink a pooler's spare pool) or ${raise}.`,
    });
    return;
  }
  const spare = b.available - b.needed;
  if (spare < Math.max(5, Math.ceil(b.maxConnections / 10))) {
    findings.warning({
      code: "CONNECTION_BUDGET_TIGHT",
      side,
      message: `With pgferry's ${b.needed} connections, only ${spare} of the ${side}'s connection slots stay free for the application (${state}).`,
      fix: "Lower --jobs, or make sure the application's pool cannot grow during the migration.",
    });
  }
}
