import type pg from "pg";
import { literal } from "../db/index.js";
import { PgferryError } from "../errors/index.js";

export const DEFAULT_MAINTENANCE_WORK_MEM = "512MB";

/**
 * The default is bounded by the server: never above shared_buffers (a managed service sizes
 * it at about a quarter of the instance's memory, and several index workers each take this
 * much), never above 2GB (more does not speed a build up), never below the server's own
 * setting. An explicit value is used as given.
 */
const BOUNDED_SQL = `
select greatest(pg_catalog.pg_size_bytes(pg_catalog.current_setting('maintenance_work_mem')),
                least(pg_catalog.pg_size_bytes($1), 2147483648,
                      greatest(pg_catalog.pg_size_bytes(pg_catalog.current_setting('shared_buffers')), 67108864))
       ) / 1024 as kb`;

/** Raises maintenance_work_mem for this session; returns the value set. */
export async function raiseMaintenanceWorkMem(
  client: pg.ClientBase,
  explicit: string | undefined,
): Promise<string> {
  let value: string;
  if (explicit !== undefined) value = explicit;
  else {
    const { rows } = await client.query<{ kb: string }>(BOUNDED_SQL, [DEFAULT_MAINTENANCE_WORK_MEM]);
    value = `${rows[0]!.kb}kB`;
  }
  try {
    await client.query(`set maintenance_work_mem = ${literal(value)}`);
  } catch (cause) {
    throw new PgferryError("BAD_OPTION", `maintenance_work_mem = ${value} is not accepted by the target.`, {
      side: "target",
      cause,
      hint: "Give a size like 256MB or 1GB (at most 2GB).",
    });
  }
  return value;
}
