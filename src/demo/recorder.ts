import type { EventSink, PgferryEvent } from "../progress/events.js";
import type { StatusReport } from "../progress/status-model.js";

type Waiter = { test: (s: StatusReport) => boolean; resolve: (s: StatusReport) => void };

/**
 * Sits between the pipeline and the renderer: forwards every event, and keeps what the
 * summary needs (the last status, the lag seen while streaming, stage durations).
 */
export class Recorder {
  last: StatusReport | null = null;
  /** Lag samples (seconds) taken while every table streamed. */
  readonly lags: number[] = [];
  readonly stageSeconds = new Map<string, number>();
  private readonly stageStarted = new Map<string, number>();
  private waiters: Waiter[] = [];
  private measuringLag = false;

  constructor(private readonly out: EventSink) {}

  readonly sink: EventSink = (event: PgferryEvent) => {
    if (event.type === "progress") this.onStatus(event.status);
    if (event.type === "stage:start") this.stageStarted.set(event.stage, Date.now());
    if (event.type === "stage:done") {
      const t0 = this.stageStarted.get(event.stage);
      const s = event.seconds ?? (t0 === undefined ? undefined : (Date.now() - t0) / 1000);
      if (s !== undefined) this.stageSeconds.set(event.stage, s);
    }
    this.out(event);
  };

  /** Lag counts toward the summary only while on (once every table streams). */
  measureLag(on: boolean): void {
    this.measuringLag = on;
  }

  /** Resolves with the first status that passes the test (the current one included). */
  until(test: (s: StatusReport) => boolean): Promise<StatusReport> {
    if (this.last && test(this.last)) return Promise.resolve(this.last);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  private onStatus(s: StatusReport): void {
    this.last = s;
    if (this.measuringLag && s.lagSeconds !== null) this.lags.push(s.lagSeconds);
    const ready = this.waiters.filter((w) => w.test(s));
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve(s);
  }

  /** A demo step: an event when it starts and one when it ends, with its duration. */
  async step<T>(step: string, doing: string, fn: () => Promise<T>, done: (r: T) => string): Promise<T> {
    this.out({ type: "demo", message: doing, data: { step, state: "start" } });
    const t0 = Date.now();
    const r = await fn();
    const seconds = (Date.now() - t0) / 1000;
    this.stageSeconds.set(`demo:${step}`, seconds);
    this.out({ type: "demo", message: done(r), data: { step, state: "done", seconds } });
    return r;
  }

  note(message: string, data: Record<string, unknown> = {}): void {
    this.out({ type: "demo", message, data });
  }
}
