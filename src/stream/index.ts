// Contract stub: replaced by the stream stage (issue 4).
import type { MigrationContext } from "../context.js";
import { PgferryError } from "../errors/index.js";

export interface StreamOptions {
  /** Most log rows one window may carry. */
  windowMaxChanges?: number;
  /** Tables applied in parallel. */
  applyJobs?: number;
  heartbeatIntervalMs?: number;
  sequenceSyncIntervalMs?: number;
}

/**
 * Replays captured changes into every table in phase 'indexed' or 'streaming' (moving them to
 * 'streaming'), window by window, with heartbeat, log cleanup and sequence following. Resolves
 * when ctx.signal is aborted (after finishing or abandoning the current window) or when the
 * migration leaves the streaming phases (cutover).
 */
export async function runStream(_ctx: MigrationContext, _opts: StreamOptions = {}): Promise<void> {
  throw new PgferryError("INTERNAL", "streaming is not built yet");
}
