import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { libpqEnv, parseConnUrl } from "../src/db/index.js";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** libpq environment for a URL: the password travels in PGPASSWORD, never on a command line. */
export function pgEnv(url: string): Record<string, string> {
  return libpqEnv(parseConnUrl(url, "local"));
}

/** Runs a program to completion and collects its output; rejects on a non-zero exit unless allowed. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; allowFail?: boolean; input?: string } = {},
): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.on("error", reject);
    child.on("close", (code) => {
      const result = { code: code ?? -1, stdout, stderr, seconds: (performance.now() - started) / 1000 };
      if (code === 0 || opts.allowFail) resolve(result);
      else reject(new Error(`${cmd} ${args[0] ?? ""} exited ${code}: ${stderr.trim().slice(-2000)}`));
    });
  });
}

/** Runs a bash pipeline; `vars` reach it as environment variables (secrets included), never as argv. */
export function shell(script: string, vars: Record<string, string>): Promise<RunResult> {
  return run("bash", ["-o", "pipefail", "-c", script], { env: vars });
}

/** Samples a process's peak resident memory (VmHWM) until it exits. */
export class MemorySampler {
  peakKb = 0;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly child: ChildProcess,
    intervalMs = 200,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    child.once("exit", () => clearInterval(this.timer));
  }

  sample(): void {
    if (this.child.pid === undefined || this.child.exitCode !== null) return;
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
      const m = /VmHWM:\s+(\d+) kB/.exec(status);
      if (m) this.peakKb = Math.max(this.peakKb, Number(m[1]));
    } catch {
      // The process may have just exited.
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get peakMb(): number {
    return this.peakKb / 1024;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `work` over `items` with at most `jobs` at once, in order of the list. */
export async function parallel<T>(items: readonly T[], jobs: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/**
 * CPU seconds (user + system) of this process's children that have ended and been waited for,
 * their own children included (/proc/self/stat cutime + cstime): a contender's client CPU is
 * the difference around its run. The servers are children too but live on, so their backends'
 * CPU is not in it.
 */
export function childCpuSeconds(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  // Fields after the command name (which may hold spaces) start at the state, field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[16 - 3]) + Number(fields[17 - 3]);
  return ticks / 100;
}
