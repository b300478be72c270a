import type pg from "pg";
import { type ConnInfo, connect, type SessionOptions } from "../db/index.js";

import { isPgferryError } from "../errors/index.js";

/**
 * A lazily (re)connected session. After a failure the caller discards it; the next get()
 * connects again, so a server restart or a dropped network costs one retry, not the stream.
 */
export class Session {
  private client: pg.Client | undefined;
  /** Temp staging tables known to exist on the current connection. */
  staged = new Set<string>();

  constructor(
    readonly info: ConnInfo,
    readonly opts: SessionOptions,
  ) {}

  async get(): Promise<pg.Client> {
    if (!this.client) {
      this.client = await connect(this.info, this.opts);
      this.staged = new Set();
    }
    return this.client;
  }

  /** Ends the current connection (if any); the next get() opens a new one. */
  async discard(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.staged = new Set();
    await c?.end().catch(() => {});
  }

  /**
   * Rolls back after an error; a connection that cannot even do that is discarded. Staging
   * tables created by the rolled-back transaction are gone: forget them all (creating one
   * again is `if not exists`).
   */
  async rollback(): Promise<void> {
    if (!this.client) return;
    this.staged = new Set();
    try {
      await this.client.query("rollback");
    } catch {
      await this.discard();
    }
  }
}

/** Marks which side an error came from, so retries and messages can say it. */
export function tagSide<T extends object>(err: T, side: "source" | "target"): T {
  if (err && typeof err === "object" && !("pgferrySide" in err)) {
    Object.defineProperty(err, "pgferrySide", { value: side, enumerable: false });
  }
  return err;
}

export function sideOf(err: unknown): "source" | "target" | undefined {
  if (isPgferryError(err) && (err.side === "source" || err.side === "target")) return err.side;
  if (typeof err !== "object" || err === null || !("pgferrySide" in err)) return undefined;
  return err.pgferrySide === "source" || err.pgferrySide === "target" ? err.pgferrySide : undefined;
}

/** Runs fn and tags any error with the side. */
export async function onSide<T>(side: "source" | "target", fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw tagSide(err as object, side);
  }
}

export { sqlState } from "../db/index.js";

export function errorMessage(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
