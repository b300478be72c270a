import type pg from "pg";
import { redact } from "../errors/index.js";

export type EventLevel = "info" | "warn" | "error";

/** Appends to pgferry.events on the target; the text is scrubbed of secrets first. */
export async function recordEvent(
  client: pg.ClientBase,
  level: EventLevel,
  kind: string,
  message: string,
  details?: Record<string, unknown>,
): Promise<void> {
  await client.query("insert into pgferry.events (level, kind, message, details) values ($1, $2, $3, $4)", [
    level,
    kind,
    redact(message),
    details === undefined ? null : JSON.parse(redact(JSON.stringify(details))),
  ]);
}

/**
 * The events status shows, newest first: errors, and each new source table the stream saw
 * until `pgferry tables` added or removed it.
 */
export async function readShownEvents(
  client: pg.ClientBase,
  limit: number,
): Promise<{ at: Date; message: string }[]> {
  const { rows } = await client.query<{ at: Date; message: string }>(
    `select at, message from pgferry.events e
      where level = 'error'
         or (kind = 'new-table'
             and not exists (select 1 from pgferry.events r
                              where r.kind in ('table-added', 'table-removed') and r.id > e.id
                                and r.details->>'table' = e.details->>'table'))
      order by id desc limit $1`,
    [limit],
  );
  return rows;
}

/** The details of the last event of a kind that carry `key` (the rollback's measured window). */
export async function lastEventDetails(
  client: pg.ClientBase,
  kind: string,
  key: string,
): Promise<Record<string, unknown> | null> {
  const { rows } = await client.query<{ details: Record<string, unknown> | null }>(
    "select details from pgferry.events where kind = $1 and details ? $2 order by id desc limit 1",
    [kind, key],
  );
  return rows[0]?.details ?? null;
}
