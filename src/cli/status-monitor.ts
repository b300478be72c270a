import type pg from "pg";
import type { ConnInfo } from "../db/conn-info.js";
import { connect } from "../db/index.js";
import { sleep } from "../db/retry.js";
import { isPgferryError, redact } from "../errors/index.js";
import { parseListenAddress } from "../monitor/listen-address.js";
import type { PgferryEvent } from "../progress/events.js";
import { stampEvent } from "../progress/events.js";
import { readStatus } from "../progress/status.js";
import { noMigrationStatus } from "../progress/status-model.js";
import type { CliContext } from "./context.js";
import { type ListenFlags, listenToken } from "./listen-options.js";
import { openMonitor } from "./monitor.js";
import { eventLine } from "./render/event-lines.js";

/**
 * `pgferry status --listen`: serves the monitor for a migration from its state on the target
 * (from a machine other than the one running start), reading the status every few seconds
 * until Ctrl-C. A lost target is retried, and said, without ending the monitor.
 */
export async function serveStatus(
  ctx: CliContext,
  flags: ListenFlags & { json?: boolean; interval?: number },
  target: ConnInfo,
): Promise<void> {
  const token = listenToken(flags);
  const address = parseListenAddress(flags.listen ?? "");
  const print = (e: PgferryEvent) => {
    if (flags.json) return ctx.out.json(stampEvent(e));
    const line = e.type === "progress" ? undefined : eventLine(e);
    if (line) ctx.out.line(line);
  };
  // The target is reached once before serving: a wrong URL fails here, like plain status.
  let client: pg.Client | undefined = await open(target);
  const { feed, server } = await openMonitor(ctx, "status", address, token, print);
  const everyMs = (flags.interval ?? 2) * 1000;
  let failing = false;
  try {
    while (!ctx.signal.aborted) {
      try {
        client ??= await open(target);
        const status = await readStatus(client).catch((err: unknown) => {
          if (isPgferryError(err) && err.code === "NOT_PREPARED") return noMigrationStatus();
          throw err;
        });
        feed.onEvent({ type: "progress", status });
        if (failing) print({ type: "log", level: "info", message: "the target answers again" });
        failing = false;
      } catch (err) {
        await client?.end().catch(() => {});
        client = undefined;
        if (!failing)
          print({
            type: "log",
            level: "warn",
            message: `cannot read the status from the target (${redact((err as Error).message)}); retrying`,
          });
        failing = true;
      }
      await sleep(everyMs, ctx.signal);
    }
    ctx.setExit(0);
  } finally {
    await server.close();
    await client?.end().catch(() => {});
  }
}

function open(target: ConnInfo): Promise<pg.Client> {
  return connect(target, { stage: "status", statementTimeoutMs: 30_000, connectTimeoutMs: 10_000 });
}
