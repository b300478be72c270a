import { describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/progress/status-model.js";
import { START_STALE_SECONDS } from "../../src/state/index.js";
import { cli, pair, type Setup, setup, streaming } from "../harness/cutover-e2e.js";
import { pairLabel } from "../harness/pairs.js";
import { waitFor } from "../harness/pgferry-process.js";
import { asOwner } from "../harness/servers.js";

async function statusJson(s: Setup): Promise<StatusReport> {
  const out = await cli(s, ["status", "--json"]);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as StatusReport;
}

/** The bound the issue sets: status says no start runs within 10 s of its death. */
const DEAD_WITHIN_MS = 10_000;

describe(`liveness of pgferry start, PostgreSQL ${pairLabel(pair)}`, () => {
  it("status sees a running start, and none within 10 s of its kill -9", async () => {
    // The bound must leave room for the staleness window itself.
    expect(START_STALE_SECONDS * 1000).toBeLessThan(DEAD_WITHIN_MS);
    const s = await setup();
    const start = await streaming(s);
    const live = await statusJson(s);
    expect(live.startRunning).toBe(true);
    expect(live.startLastSeenSeconds).not.toBeNull();
    expect(live.starts).toEqual([expect.objectContaining({ pid: start.child.pid, role: "forward stream" })]);
    expect((await cli(s, ["status"])).stdout).not.toContain("no `pgferry start`");

    await start.kill9();

    const dead = await waitFor(
      "status to see that no start runs",
      async () => {
        const st = await statusJson(s);
        return st.startRunning ? undefined : st;
      },
      { timeoutMs: DEAD_WITHIN_MS, intervalMs: 200 },
    );
    expect(dead.startLastSeenSeconds).toBeGreaterThan(0);
    expect(dead.starts).toEqual([]);
    const plain = await cli(s, ["status"]);
    expect(plain.stdout).toMatch(
      /no `pgferry start` has been running since \d\d:\d\d:\d\d UTC: nothing copies or streams, the lag grows/,
    );

    // A clean exit removes its row at once, and is remembered as the last time one was seen.
    const again = await streaming(s);
    expect((await statusJson(s)).startRunning).toBe(true);
    again.child.kill("SIGINT");
    expect((await again.exited).code).toBe(0);
    expect(
      await asOwner(s.target, "select pid from pgferry.start_heartbeats where pid = $1", [again.child.pid]),
    ).toEqual([]);
    const after = await statusJson(s);
    expect(after.startRunning).toBe(false);
    expect(after.startLastSeenSeconds).not.toBeNull();
  });
});
