import type { MigrationContext } from "../../src/context.js";
import { parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { parseSnapshot, snapshotCovers } from "../../src/positions/index.js";
import type { PgferryEvent } from "../../src/progress/events.js";
import { open } from "./stream-setup.js";

/** A MigrationContext over two test databases that collects the events it is sent. */
export function streamContext(
  source: LocalDatabase,
  target: LocalDatabase,
  signal: AbortSignal = new AbortController().signal,
): MigrationContext & { events: PgferryEvent[] } {
  const events: PgferryEvent[] = [];
  return {
    source: parseConnUrl(source.url, "source"),
    target: parseConnUrl(target.url, "target"),
    emit: (e) => void events.push(e),
    signal,
    events,
  };
}

/**
 * Waits until every table in a streaming phase on the target has a position covering the
 * source's snapshot taken now (so everything committed before this call is applied).
 */
export async function waitCaughtUp(
  source: LocalDatabase,
  target: LocalDatabase,
  timeoutMs = 60_000,
  phases = ["streaming"],
): Promise<void> {
  const src = await open(source, "source");
  const { rows } = await src.query<{ q: string }>("select txid_current_snapshot()::text as q");
  await src.end();
  const q = parseSnapshot(rows[0]!.q);
  const deadline = Date.now() + timeoutMs;
  const tgt = await open(target, "target");
  try {
    for (;;) {
      const t = await tgt.query<{ name: string; phase: string; position: string }>(
        "select schema_name || '.' || table_name as name, phase, position from pgferry.tables",
      );
      const behind = t.rows.filter(
        (r) => !phases.includes(r.phase) || !snapshotCovers(parseSnapshot(r.position), q),
      );
      if (behind.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `not caught up: ${behind.map((r) => `${r.name} (${r.phase} at ${r.position})`).join(", ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await tgt.end();
  }
}

/** Polls fn until it returns a truthy value. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T>,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
