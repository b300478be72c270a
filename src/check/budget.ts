import type pg from "pg";
import { connectionSlots } from "../db/index.js";
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
    findings.blocker({
      code: "CONNECTION_BUDGET",
      side,
      message: `pgferry needs ${b.needed} connections to the ${side} (--jobs ${jobs} + 3), but only ${state}.`,
      fix: `Lower --jobs to ${Math.max(1, b.available - 3)} or less${b.available - 3 < 1 ? " after freeing connections (stop idle workers or a connection pooler's spare pool)" : ""}, or raise the limit.`,
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
