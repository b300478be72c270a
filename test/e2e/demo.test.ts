import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");

/** "1,234" → 1234 */
const num = (s: string | undefined) => Number((s ?? "NaN").replace(/,/g, ""));

describe("pgferry demo --size small", () => {
  it("migrates a live app with zero lost writes, counted, and removes its servers", async () => {
    const { stdout, stderr } = await run("node", ["bin/pgferry.js", "demo", "--size", "small"], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      timeout: 170_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`demo failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
    });
    const out = `${stdout}\n${stderr}`;

    // Every stage of the pipeline ran, for real, in order.
    const order = ["pgferry check", "pgferry start", "pgferry verify", "pgferry cutover", "pgferry cleanup"];
    const at = order.map((s) => out.indexOf(s));
    expect(
      at.every((i) => i >= 0),
      out,
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(out).not.toMatch(/^\s*Not run/m);

    // The app wrote on both sides of the switch, and every acknowledged write was checked.
    const writes = /App writes\s+([\d,]+) acknowledged/.exec(out);
    const sides = /([\d,]+) on the source, ([\d,]+) on the target after the switch/.exec(out);
    const lost = /Lost writes\s+([\d,]+) of ([\d,]+)/.exec(out);
    expect(writes && sides && lost, out).toBeTruthy();
    expect(num(writes![1])).toBeGreaterThan(0);
    expect(num(sides![1])).toBeGreaterThan(0);
    expect(num(sides![2])).toBeGreaterThan(0);
    expect(num(sides![1]) + num(sides![2])).toBe(num(writes![1]));
    expect(num(lost![1])).toBe(0);
    expect(num(lost![2])).toBe(num(writes![1]));
    expect(out).toMatch(/Verify\s+identical/);
    expect(out).toMatch(/Writes unavailable\s+[\d,]+ ms/);

    // Nothing left behind: the demo's directory is gone, and no server runs from it.
    const dir = /in (\/\S*pgferry-demo-\w+)/.exec(out)?.[1];
    expect(dir, out).toBeTruthy();
    expect(existsSync(dir!)).toBe(false);
    const { stdout: ps } = await run("ps", ["-eo", "args"]);
    expect(ps).not.toContain(dir!);

    // It served its dashboard on a free loopback port while it ran (issue 16).
    expect(out).toMatch(
      /^dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(Prometheus metrics: http:\/\/127\.0\.0\.1:\d+\/metrics\)$/m,
    );

    // Passwords are random pw_<hex> strings: none may appear, in the output or in a URL.
    expect(out).not.toMatch(/pw_[0-9a-f]{24}/);
    expect(out).toMatch(/shop_owner:\*\*\*\*@/);
  });
});
