import { describe, expect, it } from "vitest";
import type { Output } from "../../src/cli/output.js";
import {
  eventLine,
  formatBytes,
  formatCount,
  formatDuration,
  makeRenderer,
  statusLines,
  summaryLine,
} from "../../src/cli/render/index.js";
import { CLEAR_BELOW, CURSOR_UP, LiveView } from "../../src/cli/render/live-view.js";
import type { PgferryEvent } from "../../src/progress/events.js";
import type { StatusReport, TableStatus } from "../../src/progress/status-model.js";

function fakeOutput(isTTY = false): Output & { text: () => string; lines: () => string[] } {
  const chunks: string[] = [];
  return {
    isTTY,
    color: false,
    line: (t = "") => void chunks.push(`${t}\n`),
    error: (t) => void chunks.push(`ERR ${t}\n`),
    json: (v) => void chunks.push(`${JSON.stringify(v)}\n`),
    write: (t) => void chunks.push(t),
    text: () => chunks.join(""),
    lines: () => chunks.join("").split("\n").filter(Boolean),
  };
}

function table(name: string, phase: string, rowsDone: number, rowsTotal: number): TableStatus {
  return {
    name,
    phase,
    rowsDone,
    rowsTotal,
    bytesDone: rowsDone * 100,
    bytesTotal: rowsTotal * 100,
    pendingChanges: null,
    changesApplied: 0,
  };
}

function status(tables: TableStatus[], phase = "copying"): StatusReport {
  const rowsDone = tables.reduce((a, t) => a + t.rowsDone, 0);
  const rowsTotal = tables.reduce((a, t) => a + t.rowsTotal, 0);
  return {
    phase,
    source: "postgres://u:****@h/db",
    lagSeconds: null,
    pendingChanges: null,
    copy: {
      rowsDone,
      rowsTotal,
      bytesDone: rowsDone * 100,
      bytesTotal: rowsTotal * 100,
      bytesPerSecond: 2_500_000,
      etaSeconds: 130,
      chunksDone: 3,
      chunksTotal: 9,
    },
    stream: { changesApplied: 0, changesPerSecond: 0 },
    startRunning: true,
    startLastSeenSeconds: 0.5,
    startLastSeenAt: "2024-05-01T14:02:09.500Z",
    starts: [{ host: "h", pid: 1, role: "copy", lastSeenSeconds: 0.5 }],
    tables,
    errors: [],
  };
}

describe("formats", () => {
  it("prints sizes, counts and durations compactly", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(2_500_000)).toBe("2.5 MB");
    expect(formatBytes(123_000_000_000)).toBe("123 GB");
    expect(formatCount(950)).toBe("950");
    expect(formatCount(12_345)).toBe("12k");
    expect(formatCount(2_345_678)).toBe("2.3M");
    expect(formatDuration(42)).toBe("42s");
    expect(formatDuration(130)).toBe("2m10s");
    expect(formatDuration(3 * 3600 + 5 * 60)).toBe("3h05m");
  });
});

describe("statusLines", () => {
  it("shows phase, progress, rate and ETA, then one line per table", () => {
    const lines = statusLines(
      status([table("public.accounts", "copying", 500, 1000), table("public.logs", "pending", 0, 10)]),
    );
    expect(lines[0]).toBe(
      "phase copying · 49% of rows · 500/1.0k rows · 50 kB/~101 kB copied · 2.5 MB/s · chunks 3/9 · ETA 2m10s",
    );
    expect(lines[1]).toBe("tables (2): 1 pending, 1 copying");
    expect(lines[2]).toMatch(/^ {2}public\.accounts +copying +50% +500\/1\.0k rows +50 kB\/~100 kB$/);
    expect(lines).toHaveLength(4);
  });

  it("keeps a fixed number of lines for the live view, busiest tables first", () => {
    const many = Array.from({ length: 30 }, (_, i) =>
      table(`s.t${i}`, i === 17 ? "copying" : "indexed", 1, 1),
    );
    const few = [table("s.a", "pending", 0, 5)];
    const a = statusLines(status(many), { maxTables: 5, fixed: true });
    const b = statusLines(status(few), { maxTables: 5, fixed: true });
    expect(a).toHaveLength(b.length);
    expect(a[2]).toContain("s.t17");
  });

  it("says when both sides are fenced and what to run after an interrupted rollback", () => {
    const s: StatusReport = {
      ...status([table("app.orders", "streaming", 1, 1)], "switched"),
      fences: { source: "up", target: "up" },
      operation: {
        name: "rollback",
        state: "interrupted",
        step: "drain-target",
        switchStarted: false,
        next: "run `pgferry rollback` again",
      },
    };
    const lines = statusLines(s);
    expect(lines[1]).toBe("fences: source up, target up (both fenced: writes are refused on both sides)");
    expect(lines[2]).toBe("rollback interrupted at step drain-target: run `pgferry rollback` again");
    expect(lines[3]).toBe("tables (1): 1 streaming");
    const fixed = statusLines(s, { maxTables: 1, fixed: true });
    expect(fixed).toHaveLength(
      statusLines(status([table("a", "streaming", 1, 1)]), { maxTables: 1, fixed: true }).length,
    );
    expect(fixed[0]).toContain("fences: source up, target up");
    expect(fixed[0]).toContain("rollback interrupted at step drain-target");
  });

  it("says when no start is running while one has work to do, and since when", () => {
    const gone = { startRunning: false, startLastSeenSeconds: 40, starts: [] };
    const streaming = { ...status([table("a", "streaming", 1, 1)], "streaming"), ...gone };
    expect(statusLines(streaming)[1]).toBe(
      "no `pgferry start` has been running since 14:02:09 UTC: nothing copies or streams, the lag grows (run `pgferry start`)",
    );
    expect(summaryLine(streaming)).toContain("no `pgferry start` has been running since 14:02:09 UTC");
    const never = { ...streaming, startLastSeenSeconds: null, startLastSeenAt: null };
    expect(statusLines(never)[1]).toContain("no `pgferry start` is running:");
    const window = { ...status([], "switched"), ...gone, fences: { source: "up", target: "down" } as const };
    expect(statusLines(window)[1]).toContain("nothing streams the target's writes back to the source");
    const noWindow = { ...window, fences: { source: "up", target: "absent" } as const };
    expect(statusLines(noWindow).join("\n")).not.toContain("pgferry start");
    expect(statusLines({ ...status([], "streaming") }).join("\n")).not.toContain("no `pgferry start`");
  });

  it("lists recorded errors", () => {
    const s = { ...status([]), errors: [{ at: "2026-01-01T00:00:00.000Z", message: "COPY_FAILED: boom" }] };
    expect(statusLines(s).at(-1)).toBe("error 2026-01-01T00:00:00.000Z: COPY_FAILED: boom");
  });
});

describe("LiveView", () => {
  it("redraws in place: back up over the last frame, erase below, rewrite the block", () => {
    const out = fakeOutput(true);
    const view = new LiveView(out, () => 20);
    view.render(["one", "two", "a line much longer than twenty"]);
    const first = out.text();
    view.render(["uno", "dos", "tres"]);
    const second = out.text().slice(first.length);
    expect(second).toBe(`\r${CURSOR_UP(3)}${CLEAR_BELOW}uno\ndos\ntres\n`);
    expect(first).toContain("a line much longer …");
    view.message("lock wait");
    const third = out.text().slice(first.length + second.length);
    expect(third).toBe(`\r${CURSOR_UP(3)}${CLEAR_BELOW}lock wait\nuno\ndos\ntres\n`);
  });

  it("keeps a message wider than the terminal whole, above the block", () => {
    const out = fakeOutput(true);
    const view = new LiveView(out, () => 10);
    view.render(["a", "b"]);
    const before = out.text().length;
    view.message("a message far wider than ten columns");
    expect(out.text().slice(before)).toBe(
      `\r${CURSOR_UP(2)}${CLEAR_BELOW}a message far wider than ten columns\na\nb\n`,
    );
  });
});

describe("renderers", () => {
  const events: PgferryEvent[] = [
    { type: "stage:start", stage: "copy" },
    {
      type: "lock:wait",
      table: "public.orders",
      attempt: 2,
      waiters: [
        {
          table: "public.orders",
          pid: 4242,
          applicationName: "rails",
          state: "idle in transaction",
          seconds: 75,
          query: "",
        },
      ],
    },
    { type: "progress", status: status([table("public.orders", "copying", 5, 10)]) },
    { type: "table:phase", table: "public.orders", phase: "copied" },
  ];

  it("--json writes one JSON object per event", () => {
    const out = fakeOutput();
    const r = makeRenderer(out, "json");
    for (const e of events) r.onEvent(e);
    const parsed = out.lines().map((l) => JSON.parse(l));
    expect(parsed.map((p) => p.type)).toEqual(["stage:start", "lock:wait", "progress", "table:phase"]);
    expect(parsed[2].status.copy.rowsDone).toBe(5);
  });

  it("plain output prints events as lines and progress at a steady pace", () => {
    const out = fakeOutput();
    const r = makeRenderer(out, "plain", 60_000);
    for (const e of events) r.onEvent(e);
    r.onEvent(events[2]!);
    const lines = out.lines();
    expect(lines).toHaveLength(4);
    expect(lines[1]).toBe(
      "waiting for a lock on public.orders (round 2): held by pid 4242 (rails, idle in transaction, 1m15s); other tables go on",
    );
    expect(lines[2]).toMatch(/^phase copying · 50% of rows/);
    expect(lines[3]).toBe("public.orders: copied");
  });

  it("--json leaves out the per-window events and says where the monitor listens (issue 16)", () => {
    const out = fakeOutput();
    const r = makeRenderer(out, "json");
    r.onEvent({
      type: "stream:window",
      table: "public.orders",
      direction: "forward",
      changes: 3,
      seconds: 0.01,
    });
    r.onEvent({
      type: "monitor:listening",
      url: "http://127.0.0.1:9187/",
      metricsUrl: "http://127.0.0.1:9187/metrics",
    });
    expect(out.lines().map((l) => JSON.parse(l).type)).toEqual(["monitor:listening"]);
    const plain = fakeOutput();
    const p = makeRenderer(plain, "plain");
    p.onEvent({
      type: "stream:window",
      table: "public.orders",
      direction: "forward",
      changes: 3,
      seconds: 0.01,
    });
    p.onEvent({
      type: "monitor:listening",
      url: "http://127.0.0.1:9187/",
      metricsUrl: "http://127.0.0.1:9187/metrics",
    });
    expect(plain.lines()).toEqual([
      "dashboard: http://127.0.0.1:9187/ (Prometheus metrics: http://127.0.0.1:9187/metrics)",
    ]);
  });

  it("names the table and the blocking process in a lock wait", () => {
    expect(eventLine(events[1]!)).toContain("pid 4242 (rails");
  });

  it("names the side and what waited in a stall, in plain and live output (issue 17, item 7)", () => {
    const stall: PgferryEvent = {
      type: "stall",
      side: "target",
      waiting: "pgferry:copy a COPY … FROM STDIN",
      seconds: 31,
      probe: "a new connection got no answer within 30 s",
    };
    const line =
      "the target stalled: nothing for 31s while pgferry:copy a COPY … FROM STDIN waited (a new connection got no answer within 30 s); reconnecting";
    expect(eventLine(stall)).toBe(line);
    const plain = fakeOutput();
    makeRenderer(plain, "plain").onEvent(stall);
    expect(plain.lines()).toEqual([line]);
    const live = fakeOutput(true);
    makeRenderer(live, "tty").onEvent(stall);
    expect(live.text()).toContain(line);
  });
});

describe("status after the switch (issue 13)", () => {
  it("shows the reverse stream in a rollback window, never the forward lag", () => {
    const s = status([table("public.a", "switched", 10, 10)], "switched");
    s.lagSeconds = 0.4;
    s.pendingChanges = 3;
    s.stream.changesApplied = 900;
    s.reverse = {
      lagSeconds: 0.4,
      pendingChanges: 3,
      changesApplied: 1200,
      lastAppliedAt: "2024-05-01T14:02:09.500Z",
      endsWith: "`pgferry rollback` (back to the source) or `pgferry cleanup` (stay on the target)",
    };
    const line = summaryLine(s);
    expect(line).toContain("rollback window open until `pgferry rollback`");
    expect(line).toContain("reverse stream lag 0.4s");
    expect(line).toContain("3 target change(s) still to bring back to the source");
    expect(line).toContain("1.2k brought back");
    expect(line).not.toMatch(/· lag |changes applied/);
  });

  it("says nothing streams after a switch without a rollback window", () => {
    const s = status([table("public.a", "switched", 10, 10)], "switched");
    expect(summaryLine(s)).toBe("phase switched · no rollback window: nothing streams");
  });
});
