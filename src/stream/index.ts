import type { MigrationContext } from "../context.js";
import { runReverseStream } from "./reverse.js";
import { ForwardStream } from "./run-stream.js";
import { resolveOptions, type StreamOptions } from "./types.js";

export { catchUp } from "./catch-up.js";
export { catchUpReverse, runReverseStream } from "./reverse.js";
export { installReverseCapture, removeReverseCapture } from "./reverse-install.js";
export { planSequences, type SequenceSyncOptions, syncSequences } from "./sequences.js";
export { STREAM_DEFAULTS, type StreamOptions } from "./types.js";

/**
 * Replays captured changes into every table in phase 'indexed' or 'streaming' (moving them to
 * 'streaming'), window by window, with heartbeat, log cleanup and sequence following. Resolves
 * when ctx.signal is aborted (after finishing the windows in flight) or when the migration
 * leaves the streaming phases (cutover). `direction: "reverse"` runs the rollback window's
 * stream instead (see runReverseStream).
 */
export async function runStream(ctx: MigrationContext, opts: StreamOptions = {}): Promise<void> {
  const o = resolveOptions(opts);
  if (o.direction === "reverse") return runReverseStream(ctx, opts);
  await new ForwardStream(ctx, o).run();
}
