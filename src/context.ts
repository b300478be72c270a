import type { ConnInfo } from "./db/index.js";
import type { EventSink } from "./progress/events.js";

/** What every stage gets: both connections, the event sink, and the stop signal. */
export interface MigrationContext {
  source: ConnInfo;
  target: ConnInfo;
  emit: EventSink;
  signal: AbortSignal;
}
