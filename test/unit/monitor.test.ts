import http from "node:http";
import type { AddressInfo } from "node:net";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, describe, expect, it } from "vitest";
import { errorCodeOf, isPgferryError, PgferryError, registerSecret } from "../../src/errors/index.js";
import {
  isLoopback,
  MonitorFeed,
  type MonitorServer,
  parseListenAddress,
  publicEvent,
  startMonitorServer,
} from "../../src/monitor/index.js";
import type { PgferryEvent } from "../../src/progress/events.js";
import { noMigrationStatus, type StatusReport } from "../../src/progress/status-model.js";

function status(over: Partial<StatusReport> = {}, rows = 10, applied = 0): StatusReport {
  return {
    ...noMigrationStatus(),
    phase: "copying",
    tables: [
      {
        name: "public.items",
        phase: "copying",
        rowsDone: rows,
        rowsTotal: 100,
        bytesDone: rows * 10,
        bytesTotal: 1000,
        pendingChanges: null,
        changesApplied: applied,
      },
    ],
    ...over,
  };
}

async function metricsOf(feed: MonitorFeed) {
  return parsePrometheusTextFormat(await feed.metrics.registry.metrics());
}

function value(families: ReturnType<typeof parsePrometheusTextFormat>, name: string, labels = {}) {
  const m = families
    .find((f) => f.name === name)
    ?.metrics.find((x) => JSON.stringify(x.labels ?? {}) === JSON.stringify(labels));
  return m?.value === undefined ? undefined : Number(m.value);
}

describe("--listen addresses", () => {
  it("reads a port (loopback), HOST:PORT and [IPv6]:PORT", () => {
    expect(parseListenAddress("9187")).toEqual({ host: "127.0.0.1", port: 9187 });
    expect(parseListenAddress("0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseListenAddress("0.0.0.0:80")).toEqual({ host: "0.0.0.0", port: 80 });
    expect(parseListenAddress("localhost:9000")).toEqual({ host: "localhost", port: 9000 });
    expect(parseListenAddress("[::1]:0")).toEqual({ host: "::1", port: 0 });
    expect(parseListenAddress("monitor.internal:9187")).toEqual({ host: "monitor.internal", port: 9187 });
  });

  it.each([
    "",
    "abc",
    "99999",
    "65536",
    "host:",
    ":9187",
    "::1:9187",
    "a b:1",
    "[127.0.0.1]:1",
    "-1",
    "80.5",
  ])("refuses %j with a USAGE error and a hint", (bad) => {
    try {
      parseListenAddress(bad);
      expect.unreachable();
    } catch (err) {
      expect(isPgferryError(err) && err.code).toBe("USAGE");
      expect((err as Error).message).toMatch(/^--listen .* is not a listening address: /);
      expect((err as { hint: string }).hint).toMatch(/HOST:PORT/);
    }
  });

  it("knows loopback from the rest", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1", "localhost"].map(isLoopback)).toEqual([true, true, true, true]);
    expect(["0.0.0.0", "::", "10.0.0.1", "monitor.internal"].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe("the monitor's metrics", () => {
  it("follows the status: counters never go down, one phase at 1, unknown figures absent", async () => {
    const feed = new MonitorFeed("start", "1.2.3");
    let m = await metricsOf(feed);
    // Before any status: no lag, pending or log size rather than a made-up 0.
    for (const name of [
      "pgferry_stream_lag_seconds",
      "pgferry_stream_pending_changes",
      "pgferry_capture_log_bytes",
    ])
      expect(m.find((f) => f.name === name)?.metrics ?? [], name).toEqual([]);
    expect(value(m, "pgferry_info", { role: "start", version: "1.2.3" })).toBe(1);

    feed.onEvent({ type: "progress", status: status({}, 40) });
    // A chunk copied again reports fewer rows for a while: the counter holds.
    feed.onEvent({ type: "progress", status: status({}, 30) });
    feed.onEvent({
      type: "progress",
      status: status(
        {
          phase: "streaming",
          lagSeconds: 1.5,
          pendingChanges: 7,
          changeLog: { bytes: 8192, rows: 12, measuredAt: "x" },
        },
        100,
        5,
      ),
    });
    m = await metricsOf(feed);
    expect(value(m, "pgferry_copy_rows_total", { table: "public.items" })).toBe(100);
    expect(value(m, "pgferry_copy_bytes_total", { table: "public.items" })).toBe(1000);
    expect(value(m, "pgferry_stream_changes_applied_total", { table: "public.items" })).toBe(5);
    const ones = m.find((f) => f.name === "pgferry_phase")!.metrics.filter((x) => x.value === "1");
    expect(ones.map((x) => x.labels?.["phase"])).toEqual(["streaming"]);
    expect(value(m, "pgferry_stream_lag_seconds")).toBe(1.5);
    expect(value(m, "pgferry_stream_pending_changes")).toBe(7);
    expect(value(m, "pgferry_capture_log_bytes")).toBe(8192);
    expect(value(m, "pgferry_capture_log_rows")).toBe(12);

    // The lag becomes unknown again (no stream): the sample goes, not a 0.
    feed.onEvent({ type: "progress", status: status({ phase: "streaming", lagSeconds: null }, 100, 5) });
    m = await metricsOf(feed);
    expect(m.find((f) => f.name === "pgferry_stream_lag_seconds")?.metrics ?? []).toEqual([]);
  });

  it("counts retries by side and code, lock waits, stalls, windows, and errors recorded after the first status", async () => {
    const feed = new MonitorFeed("status", "1");
    const old = { at: "2026-01-01T00:00:00.000Z", message: "COPY_FAILED: an old one" };
    feed.onEvent({ type: "progress", status: status({ errors: [old] }) });
    const events: PgferryEvent[] = [
      { type: "retry", side: "source", attempt: 1, delayMs: 1, message: "x", code: "55P03" },
      { type: "retry", side: "source", attempt: 2, delayMs: 1, message: "x", code: "55P03" },
      { type: "retry", side: "target", attempt: 1, delayMs: 1, message: "x" },
      { type: "lock:wait", table: "public.items", attempt: 1, waiters: [] },
      { type: "stall", side: "target", waiting: "w", seconds: 60, probe: "p" },
      { type: "stream:window", table: "public.items", direction: "forward", changes: 3, seconds: 0.02 },
      { type: "stream:window", direction: "reverse", changes: 2, seconds: 0.3 },
      {
        type: "progress",
        status: status({
          errors: [
            old,
            { at: "2026-01-01T00:01:00.000Z", message: "STREAM_FAILED: new" },
            { at: "2026-01-01T00:02:00.000Z", message: "no code" },
          ],
        }),
      },
    ];
    for (const e of events) feed.onEvent(e);
    const text = await feed.metrics.registry.metrics();
    const m = parsePrometheusTextFormat(text);
    expect(value(m, "pgferry_retries_total", { side: "source", code: "55P03" })).toBe(2);
    expect(value(m, "pgferry_retries_total", { side: "target", code: "UNKNOWN" })).toBe(1);
    expect(value(m, "pgferry_lock_waits_total", { table: "public.items" })).toBe(1);
    expect(value(m, "pgferry_stalls_total", { side: "target" })).toBe(1);
    expect(value(m, "pgferry_stream_window_changes_total", { direction: "reverse" })).toBe(2);
    expect(text).toMatch(/^pgferry_stream_window_apply_duration_seconds_count\{direction="forward"\} 1$/m);
    expect(text).toMatch(
      /^pgferry_stream_window_apply_duration_seconds_bucket\{le="0\.025",direction="forward"\} 1$/m,
    );
    expect(value(m, "pgferry_errors_total", { code: "STREAM_FAILED" })).toBe(1);
    expect(value(m, "pgferry_errors_total", { code: "UNCLASSIFIED" })).toBe(1);
    expect(value(m, "pgferry_errors_total", { code: "COPY_FAILED" })).toBeUndefined();
    // The dashboard keeps the reverse stream's totals and lists the notable events.
    expect(feed.history().events.map((e) => e.type)).toEqual([
      "retry",
      "retry",
      "retry",
      "lock:wait",
      "stall",
    ]);
  });

  it("serves events without the application's SQL and without passwords", () => {
    registerSecret("hunter2-secret");
    const shown = publicEvent({
      type: "lock:wait",
      table: "public.items",
      attempt: 1,
      waiters: [
        {
          table: "public.items",
          pid: 1,
          applicationName: "app",
          state: "idle in transaction",
          seconds: 3,
          query: "update items set card = '4111-1111' where id = 1",
        },
      ],
    });
    expect(JSON.stringify(shown)).not.toContain("4111");
    const log = publicEvent({
      type: "log",
      level: "warn",
      message: "postgres://u:hunter2-secret@h/db failed",
    });
    expect(JSON.stringify(log)).not.toContain("hunter2-secret");
  });
});

describe("the code a retry is filed under", () => {
  it("is the catalogue code, else the server's SQLSTATE (also as a cause), else none", () => {
    expect(errorCodeOf(new PgferryError("LOCK_TIMEOUT", "x", { side: "source" }))).toBe("LOCK_TIMEOUT");
    expect(
      errorCodeOf(Object.assign(new Error("canceling statement due to lock timeout"), { code: "55P03" })),
    ).toBe("55P03");
    expect(
      errorCodeOf(new Error("wrapped", { cause: Object.assign(new Error("x"), { code: "57P01" }) })),
    ).toBe("57P01");
    expect(errorCodeOf(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }))).toBeUndefined();
    expect(errorCodeOf("a string")).toBeUndefined();
  });
});

describe("the monitor's server", () => {
  let server: MonitorServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("requires the token as a bearer header (or access_token for the page); GET and HEAD only", async () => {
    const feed = new MonitorFeed("start", "1");
    const warnings: PgferryEvent[] = [];
    server = await startMonitorServer({
      host: "127.0.0.1",
      port: 0,
      feed,
      token: "s3cret-token-42",
      emit: (e) => warnings.push(e),
    });
    const metrics = `${server.url}metrics`;
    expect((await fetch(metrics)).status).toBe(401);
    expect((await fetch(metrics)).headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await fetch(metrics, { headers: { authorization: "Bearer wrong-token-42" } })).status).toBe(401);
    expect((await fetch(metrics, { headers: { authorization: "Bearer s3cret-token-42" } })).status).toBe(200);
    expect((await fetch(`${server.url}?access_token=s3cret-token-42`)).status).toBe(200);
    const post = await fetch(metrics, {
      method: "POST",
      headers: { authorization: "Bearer s3cret-token-42" },
    });
    expect(post.status).toBe(405);
    // No status read yet: /status.json says so instead of inventing one.
    const early = await fetch(`${server.url}status.json`, {
      headers: { authorization: "Bearer s3cret-token-42" },
    });
    expect(early.status).toBe(503);
    expect(warnings).toEqual([]);
  });

  it("streams each status to its subscribers (SSE), and ends the streams when closed", async () => {
    const feed = new MonitorFeed("start", "1");
    server = await startMonitorServer({ host: "127.0.0.1", port: 0, feed, emit: () => {} });
    const res = await fetch(`${server.url}events`);
    const reader = res.body!.getReader();
    let text = "";
    const until = async (re: RegExp) => {
      while (!re.test(text)) {
        const { done, value: chunk } = await reader.read();
        if (done) return false;
        text += new TextDecoder().decode(chunk);
      }
      return true;
    };
    await until(/^retry: /m);
    feed.onEvent({ type: "progress", status: status() });
    feed.onEvent({ type: "table:phase", table: "public.items", phase: "copied" });
    expect(await until(/^event: event\ndata: .*"copied"/m)).toBe(true);
    expect(text).toMatch(/^event: status\ndata: \{"status":\{"phase":"copying"/m);
    await server.close();
    server = undefined;
    expect(await until(/never/)).toBe(false);
  });

  it("says LISTEN_FAILED for a port in use", async () => {
    const busy = http.createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = (busy.address() as AddressInfo).port;
    try {
      await expect(
        startMonitorServer({ host: "127.0.0.1", port, feed: new MonitorFeed("start", "1"), emit: () => {} }),
      ).rejects.toMatchObject({
        code: "LISTEN_FAILED",
        message: `Cannot serve the monitor on 127.0.0.1:${port}: the port is in use.`,
      });
    } finally {
      busy.close();
    }
  });
});
