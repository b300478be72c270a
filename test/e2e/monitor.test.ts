import { mkdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/progress/status-model.js";
import { recordEvent } from "../../src/state/index.js";
import { AppClient, switchCommandFor } from "../harness/app-client.js";
import { cli, moreWrites, PASSWORD, pair, type Setup, setup } from "../harness/cutover-e2e.js";
import { openDashboard } from "../harness/headless-browser.js";
import {
  assertMonotonic,
  histogramCount,
  monitorUrl,
  type Scrape,
  SseRecorder,
  sample,
  scrape,
  total,
} from "../harness/monitor-client.js";
import { pairLabel } from "../harness/pairs.js";
import { type PgferryProcess, spawnPgferry, waitFor } from "../harness/pgferry-process.js";
import { asOwner, ownerSession, targetDb } from "../harness/servers.js";

const ARTIFACTS = path.resolve(import.meta.dirname, "../../test-artifacts");
/** Rows of the bulk table: with --max-rate 4 its copy lasts seconds, long enough to scrape. */
const BULK_ROWS = 100_000;

const COUNTERS = [
  "pgferry_copy_rows_total",
  "pgferry_copy_bytes_total",
  "pgferry_stream_changes_applied_total",
  "pgferry_stream_window_changes_total",
  "pgferry_lock_waits_total",
  "pgferry_retries_total",
  "pgferry_stalls_total",
  "pgferry_errors_total",
];
const GAUGES = [
  "pgferry_info",
  "pgferry_phase",
  "pgferry_tables",
  "pgferry_copy_expected_rows",
  "pgferry_copy_expected_bytes",
  "pgferry_copy_chunks_done",
  "pgferry_copy_chunks_planned",
  "pgferry_copy_throughput_bytes_per_second",
  "pgferry_copy_eta_seconds",
  "pgferry_index_builds_done",
  "pgferry_index_builds_planned",
  "pgferry_stream_changes_per_second",
  "pgferry_stream_pending_changes",
  "pgferry_table_pending_changes",
  "pgferry_stream_lag_seconds",
  "pgferry_table_lag_seconds",
  "pgferry_capture_log_rows",
  "pgferry_capture_log_bytes",
  "pgferry_connections",
  "pgferry_start_running",
  "pgferry_status_timestamp_seconds",
  "pgferry_process_start_time_seconds",
];

async function getText(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return res.text();
}

describe(`pgferry start --listen, PostgreSQL ${pairLabel(pair)}`, () => {
  let s: Setup;
  let start: PgferryProcess;
  let url: string;
  let sse: SseRecorder;
  let app: AppClient | undefined;
  const scrapes: Scrape[] = [];
  const tables = ["app.bulk", "app.customers", "app.orders"];

  beforeAll(async () => {
    s = await setup();
    await asOwner(
      s.source,
      `create table app.bulk (id bigint primary key, payload text not null);
       insert into app.bulk select g, repeat(md5(g::text), 4) from generate_series(1, ${BULK_ROWS}) g;
       analyze app.bulk;`,
    );
    start = spawnPgferry(
      [
        "start",
        "--jobs",
        "2",
        "--chunk-rows",
        "5000",
        "--max-rate",
        "4",
        "--progress-interval",
        "500",
        "--listen",
        "127.0.0.1:0",
      ],
      s.env,
    );
    url = await monitorUrl(start);
    sse = new SseRecorder(new URL("events", url).href);
  });

  afterAll(async () => {
    await app?.stop();
    await sse?.stop();
    if (start && start.child.exitCode === null) await start.kill9();
  });

  it("serves /metrics that a Prometheus parser reads, during the copy and while streaming", async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    // During the copy: some rows of the bulk table are copied, not all.
    const copying = async () => {
      const m = await scrape(url);
      const done = sample(m, "pgferry_copy_rows_total", { table: "app.bulk" }) ?? 0;
      return sample(m, "pgferry_phase", { phase: "copying" }) === 1 && done > 0 && done < BULK_ROWS
        ? m
        : undefined;
    };
    scrapes.push(
      await waitFor("a scrape during the copy", copying, {
        timeoutMs: 90_000,
        intervalMs: 100,
        while: start,
      }),
    );
    const first = scrapes[0]!;
    for (const name of COUNTERS.slice(0, 3)) expect(first.families.get(name)?.type, name).toBe("COUNTER");
    for (const name of GAUGES) expect(first.families.get(name)?.type, name).toBe("GAUGE");
    expect(first.families.get("pgferry_stream_window_apply_duration_seconds")?.type).toBe("HISTOGRAM");
    expect(sample(first, "pgferry_copy_expected_rows", { table: "app.bulk" })).toBeGreaterThanOrEqual(
      BULK_ROWS * 0.9,
    );
    expect(sample(first, "pgferry_copy_chunks_planned")).toBeGreaterThan(1);
    expect(sample(first, "pgferry_connections", { side: "source" })).toBeGreaterThan(0);
    expect(sample(first, "pgferry_connections", { side: "target" })).toBeGreaterThan(0);
    expect(first.families.get("pgferry_info")?.metrics[0]?.labels).toMatchObject({ role: "start" });
    expect(sample(first, "pgferry_process_start_time_seconds")).toBeGreaterThan(1_600_000_000);
    const phases = first.families.get("pgferry_phase")!.metrics;
    expect(phases.filter((m) => m.value === "1").map((m) => m.labels?.phase)).toEqual(["copying"]);

    // Streaming, with the application writing: changes applied, lag known, windows timed.
    const streaming = async () => {
      const st = (await (await fetch(new URL("status.json", url))).json()) as StatusReport;
      return st.phase === "streaming" && st.lagSeconds !== null && st.lagSeconds < 3;
    };
    await waitFor("streaming", streaming, { timeoutMs: 120_000, intervalMs: 200, while: start });
    app = await AppClient.start({
      sourceUrl: s.source.url,
      targetUrl: s.target.url,
      switchFile: s.switchFile,
      connections: 2,
      pauseMs: 20,
    });
    for (let i = 0; i < 2; i++) {
      const before = total(scrapes[scrapes.length - 1]!, "pgferry_stream_changes_applied_total");
      scrapes.push(
        await waitFor(
          "more changes applied",
          async () => {
            const m = await scrape(url);
            return total(m, "pgferry_stream_changes_applied_total") > before ? m : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 200, while: start },
        ),
      );
    }
    const last = scrapes[scrapes.length - 1]!;
    expect(sample(last, "pgferry_phase", { phase: "streaming" })).toBe(1);
    expect(sample(last, "pgferry_copy_rows_total", { table: "app.bulk" })).toBe(BULK_ROWS);
    expect(sample(last, "pgferry_index_builds_done")).toBe(tables.length);
    expect(sample(last, "pgferry_stream_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(sample(last, "pgferry_capture_log_bytes")).toBeGreaterThan(0);
    expect(sample(last, "pgferry_capture_log_rows")).toBeGreaterThanOrEqual(0);
    expect(
      histogramCount(last, "pgferry_stream_window_apply_duration_seconds", "direction", "forward"),
    ).toBeGreaterThan(0);
    for (const name of ["pgferry_copy_rows_total", "pgferry_stream_changes_applied_total"])
      expect(
        last.families
          .get(name)!
          .metrics.map((m) => m.labels?.table)
          .sort(),
        name,
      ).toEqual(tables);
    for (let i = 1; i < scrapes.length; i++) assertMonotonic(scrapes[i - 1]!, scrapes[i]!);
  });

  it("shows the dashboard: phase, every table, a lag chart that gains points; no console error", async () => {
    expect(app, "the workload of the first test runs").toBeDefined();
    mkdirSync(ARTIFACTS, { recursive: true });
    const page = await openDashboard(url);
    try {
      await page.waitFor("the phase", () => page.text("#phase").then((t) => t === "streaming"));
      for (const t of tables) expect(await page.count(`#tables tr[data-table="${t}"]`), t).toBe(1);
      const points = () => page.attribute("#chart-lag", "data-points").then(Number);
      const from = await points();
      await page.waitFor("the lag chart to gain points", async () => (await points()) >= from + 2);
      expect(await page.count("#events li")).toBeGreaterThan(0);
      // An error another pgferry process records on the target: counted, and listed on the page.
      const db = await ownerSession(s.target);
      try {
        await recordEvent(db, "error", "cutover", "COPY_FAILED: recorded by another process (test)");
      } finally {
        await db.end();
      }
      await page.waitFor("the recorded error on the page", async () =>
        (await page.text("#errors")).includes("COPY_FAILED: recorded by another process (test)"),
      );
      const counted = await scrape(url);
      expect(sample(counted, "pgferry_errors_total", { code: "COPY_FAILED" })).toBe(1);
      scrapes.push(counted);
      await page.screenshot(path.join(ARTIFACTS, "dashboard.png"));
      expect(page.errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("status --listen serves the same migration from the target's state, behind a token, with a warning off loopback", async () => {
    const token = "tok-0123456789abcdef";
    const status = spawnPgferry(["status", "--listen", "0.0.0.0:0", "--interval", "1"], {
      PGFERRY_TARGET_URL: s.target.url,
      PGFERRY_LISTEN_TOKEN: token,
    });
    try {
      const bound = await monitorUrl(status);
      expect(status.stderr.join("\n")).toMatch(
        /^warning: --listen 0\.0\.0\.0:\d+ serves the migration's progress beyond this machine, over plain HTTP; /m,
      );
      const local = bound.replace("0.0.0.0", "127.0.0.1");
      expect((await fetch(new URL("metrics", local))).status).toBe(401);
      const auth = { authorization: `Bearer ${token}` };
      const m = await waitFor(
        "the status read by status --listen",
        async () => {
          const got = await scrape(local, auth);
          return sample(got, "pgferry_phase", { phase: "streaming" }) === 1 ? got : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, while: status },
      );
      expect(m.families.get("pgferry_info")?.metrics[0]?.labels).toMatchObject({ role: "status" });
      expect(sample(m, "pgferry_start_running")).toBe(1);
      expect(sample(m, "pgferry_copy_rows_total", { table: "app.bulk" })).toBe(BULK_ROWS);
      const st = (await (
        await fetch(new URL("status.json", local), { headers: auth })
      ).json()) as StatusReport;
      expect(st.tables.map((t) => t.name).sort()).toEqual(tables);
      const page = await fetch(new URL(`?access_token=${token}`, local));
      expect(page.status).toBe(200);
      expect(status.stdout.join("\n") + status.stderr.join("\n")).not.toContain(token);
    } finally {
      status.child.kill("SIGINT");
      expect((await status.exited).code).toBe(0);
    }
  });

  it("refuses a bad --listen (USAGE, exit 2) and a port in use (LISTEN_FAILED), starting nothing", async () => {
    const fresh = await targetDb(pair.target);
    const env = { PGFERRY_SOURCE_URL: s.source.url, PGFERRY_TARGET_URL: fresh.url };
    const port = new URL(url).port;
    for (const [args, code, exit, hint] of [
      [["start", "--listen", "99999"], "USAGE", 2, /HOST:PORT/],
      [["start", "--listen", "localhost:"], "USAGE", 2, /HOST:PORT/],
      [["status", "--listen-token", "abcdefghij"], "USAGE", 2, /Add --listen/],
      [["start", "--listen", `127.0.0.1:${port}`], "LISTEN_FAILED", 1, /another address or port/],
    ] as const) {
      const p = spawnPgferry([...args], env);
      const { code: status } = await p.exited;
      expect(status, args.join(" ")).toBe(exit);
      expect(p.stderr[0], args.join(" ")).toMatch(new RegExp(`^error ${code}: `));
      expect(p.stderr[1]).toMatch(hint);
      expect(p.stderr.length, p.stderr.join("\n")).toBe(2);
    }
    expect(await asOwner(fresh, "select nspname from pg_namespace where nspname = 'pgferry'")).toEqual([]);
  });

  it("after a switch with a rollback window, shows the reverse stream (metrics and dashboard)", async () => {
    expect(app, "the workload of the first test runs").toBeDefined();
    const cut = await cli(s, [
      "cutover",
      "--rollback-window",
      "--switch-command",
      switchCommandFor(s.switchFile),
    ]);
    expect(cut.code, cut.stderr).toBe(0);
    await moreWrites(app!, "target", 20);
    const back = await waitFor(
      "changes streamed back to the source",
      async () => {
        const m = await scrape(url);
        const reverse = sample(m, "pgferry_stream_window_changes_total", { direction: "reverse" }) ?? 0;
        // The phase comes with the next status; the windows' counts as they are applied.
        return reverse > 0 && sample(m, "pgferry_phase", { phase: "switched" }) === 1 ? m : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, while: start },
    );
    scrapes.push(back);
    expect(
      histogramCount(back, "pgferry_stream_window_apply_duration_seconds", "direction", "reverse"),
    ).toBeGreaterThan(0);
    assertMonotonic(scrapes[scrapes.length - 2]!, back);

    const page = await openDashboard(url);
    try {
      await page.waitFor("the switched phase", () => page.text("#phase").then((t) => t === "switched"));
      await page.waitFor(
        "the reverse stream panel",
        async () => (await page.attribute("#reverse", "hidden")) === null,
      );
      await page.waitFor(
        "changes streamed back",
        async () => Number((await page.text("#reverse-changes")).replace(/,/g, "")) > 0,
      );
      await page.screenshot(path.join(ARTIFACTS, "dashboard-reverse.png"));
      expect(page.errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("serves GET and HEAD only, and no password anywhere; closes with the process", async () => {
    const metrics = new URL("metrics", url).href;
    for (const method of ["POST", "PUT", "DELETE"]) {
      const r = await fetch(metrics, { method });
      expect(r.status, method).toBe(405);
      expect(r.headers.get("allow")).toBe("GET, HEAD");
    }
    const head = await fetch(metrics, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect((await fetch(new URL("no-such-page", url))).status).toBe(404);

    const status = await getText(new URL("status.json", url).href);
    expect((JSON.parse(status) as StatusReport).tables.map((t) => t.name).sort()).toEqual(tables);
    const page = await getText(url);
    const assets = await Promise.all(
      [...page.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => getText(new URL(m[1]!, url).href)),
    );
    const history = await getText(new URL("history.json", url).href);
    expect(sse.messages("status").length).toBeGreaterThan(0);
    expect(sse.messages("event").length).toBeGreaterThan(0);
    const served = [page, ...assets, status, history, sse.text, ...scrapes.map((m) => m.text)].join("\n");
    for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), s.target.password])
      expect(served.includes(secret), "a password was served").toBe(false);
    expect(served).not.toMatch(/postgres(ql)?:\/\/[^\s"@]*:[^*\s"@][^\s"@]*@/);

    await app?.stop();
    app = undefined;
    start.child.kill("SIGINT");
    expect((await start.exited).code).toBe(0);
    await expect(fetch(metrics)).rejects.toThrow();
  });
});
