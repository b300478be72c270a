import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { LocalDatabase } from "../src/local-server/index.js";
import { MemorySampler, sleep } from "./proc.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, "pgferry-dist.mjs");
let built = false;

/**
 * Compiles dist/ once per bench run, so the figures are those of the code as it is now. The
 * run calls it before any contender: its compiler's CPU must not count as a client's.
 */
export function buildOnce(): void {
  if (built) return;
  execFileSync(process.execPath, [path.join(HERE, "..", "scripts", "build.mjs")], { stdio: "ignore" });
  built = true;
}

/** A running `pgferry start`, watched for memory and output. */
export class PgferryProcess {
  readonly startedAt = performance.now();
  /** Wall-clock start, to compare with timestamps the servers write (same machine, same clock). */
  readonly startedAtMs = Date.now();
  readonly memory: MemorySampler;
  readonly exited: Promise<number>;
  private output = "";

  private constructor(private readonly child: ChildProcess) {
    this.memory = new MemorySampler(child);
    child.stdout!.on("data", (d) => this.keep(d));
    child.stderr!.on("data", (d) => this.keep(d));
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, sig) => resolve(code ?? (sig ? 128 : -1))),
    );
  }

  /**
   * The URLs travel in PGFERRY_SOURCE_URL / PGFERRY_TARGET_URL, never on the command line.
   * `bin`: another pgferry entry module (a baseline build, PGFERRY_BENCH_BASELINE) instead of dist/.
   */
  static start(source: LocalDatabase, target: LocalDatabase, args: string[], bin?: string): PgferryProcess {
    if (!bin) buildOnce();
    const child = spawn(process.execPath, [bin ?? BIN, "start", ...args], {
      env: { ...process.env, PGFERRY_SOURCE_URL: source.url, PGFERRY_TARGET_URL: target.url, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new PgferryProcess(child);
  }

  private keep(d: Buffer): void {
    this.output = (this.output + d.toString()).slice(-20_000);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get tail(): string {
    return this.output.trim().split("\n").slice(-15).join("\n");
  }

  /** Ctrl-C (stop at a safe point); SIGKILL if it has not stopped in `graceMs`. */
  async stop(graceMs = 60_000): Promise<number> {
    this.memory.sample();
    if (this.running) this.child.kill("SIGINT");
    const code = await Promise.race([this.exited, sleep(graceMs).then(() => undefined)]);
    if (code !== undefined) return code;
    this.child.kill("SIGKILL");
    return this.exited;
  }

  /** Polls `ready` every `intervalMs` until it is true; fails if pgferry exits first or time runs out. */
  async waitFor(
    what: string,
    ready: () => Promise<boolean>,
    timeoutMs: number,
    intervalMs = 200,
  ): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (await ready().catch(() => false)) return;
      // It may have finished between the check and now (start --no-stream exits by itself).
      if (!this.running && (await ready().catch(() => false))) return;
      if (!this.running) throw new Error(`pgferry start exited before ${what}:\n${this.tail}`);
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${this.tail}`);
      await sleep(intervalMs);
    }
  }
}
