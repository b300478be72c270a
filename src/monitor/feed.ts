import type { PgferryEvent, StampedEvent } from "../progress/events.js";
import type { StatusReport } from "../progress/status-model.js";
import { MonitorMetrics } from "./metrics.js";
import { publicEvent, scrub } from "./public-event.js";

/** One point of the dashboard's charts, taken at each status. */
export interface Sample {
  /** Unix time, seconds. */
  t: number;
  copyBytesPerSecond: number;
  changesPerSecond: number;
  pendingChanges: number | null;
  lagSeconds: number | null;
  /** Changes this process streamed back to the source per second since the last sample. */
  reverseChangesPerSecond: number;
}

/** What the dashboard is sent on each status, and finds in /history.json on load. */
export interface Snapshot {
  status: StatusReport;
  sample: Sample;
  reverse: ReverseTotals;
}

export interface ReverseTotals {
  /** Changes this process streamed back to the source, and in how many rounds. */
  changes: number;
  rounds: number;
  lastAt: string | null;
}

export type FeedMessage = { kind: "status"; data: Snapshot } | { kind: "event"; data: StampedEvent };

const HISTORY_SECONDS = 3600;
const EVENTS_KEPT = 200;
/** Events the dashboard lists as they happen; the others are in the status or the metrics. */
const LISTED = new Set<PgferryEvent["type"]>([
  "stage:start",
  "stage:done",
  "log",
  "lock:wait",
  "table:phase",
  "retry",
  "stall",
  "cutover:step",
]);

/**
 * Everything the monitor serves, kept from one process's events: the metrics, the last status,
 * an hour of chart points, the recent notable events, and the live subscribers (SSE).
 */
export class MonitorFeed {
  readonly metrics: MonitorMetrics;
  private last: Snapshot | undefined;
  private readonly samples: Sample[] = [];
  private readonly events: StampedEvent[] = [];
  private readonly subscribers = new Set<(m: FeedMessage) => void>();
  private readonly reverse: ReverseTotals = { changes: 0, rounds: 0, lastAt: null };
  private reverseSince = { changes: 0, at: Date.now() };

  constructor(role: "start" | "status", version: string) {
    this.metrics = new MonitorMetrics(role, version);
  }

  /** The event sink to tee into: never throws (the monitor must not hurt the migration). */
  readonly onEvent = (e: PgferryEvent): void => {
    try {
      this.metrics.observe(e);
      if (e.type === "progress") {
        this.onStatus(e.status);
        return;
      }
      if (e.type === "stream:window" && e.direction === "reverse") {
        this.reverse.changes += e.changes;
        this.reverse.rounds++;
        this.reverse.lastAt = new Date().toISOString();
      }
      if (!LISTED.has(e.type)) return;
      const shown = publicEvent(e);
      this.events.push(shown);
      if (this.events.length > EVENTS_KEPT) this.events.shift();
      this.publish({ kind: "event", data: shown });
    } catch {
      // A malformed event costs the dashboard one update, never the migration.
    }
  };

  get status(): StatusReport | undefined {
    return this.last?.status;
  }

  history(): { samples: Sample[]; events: StampedEvent[]; last: Snapshot | null } {
    return { samples: [...this.samples], events: [...this.events], last: this.last ?? null };
  }

  subscribe(fn: (m: FeedMessage) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  private onStatus(raw: StatusReport): void {
    const status = scrub(raw);
    const now = Date.now();
    const dt = Math.max(0.001, (now - this.reverseSince.at) / 1000);
    const sample: Sample = {
      t: now / 1000,
      copyBytesPerSecond: status.copy.bytesPerSecond,
      changesPerSecond: status.stream.changesPerSecond,
      pendingChanges: status.pendingChanges,
      lagSeconds: status.lagSeconds,
      reverseChangesPerSecond: (this.reverse.changes - this.reverseSince.changes) / dt,
    };
    this.reverseSince = { changes: this.reverse.changes, at: now };
    this.samples.push(sample);
    while (this.samples.length > 0 && this.samples[0]!.t < sample.t - HISTORY_SECONDS) this.samples.shift();
    this.last = { status, sample, reverse: { ...this.reverse } };
    this.publish({ kind: "status", data: this.last });
  }

  private publish(m: FeedMessage): void {
    for (const fn of this.subscribers) {
      try {
        fn(m);
      } catch {
        // One broken subscriber does not stop the others.
      }
    }
  }
}
