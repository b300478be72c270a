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
