import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "pgferry.js");

/** The real CLI as a child process (node bin/pgferry.js …), its output collected line by line. */
export interface PgferryProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves when the process ends, with its exit code (null when killed) and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills with SIGKILL (no cleanup at all, like a crash) and waits until it is gone. */
  kill9(): Promise<void>;
}

/**
 * Moves `--source URL` / `--target URL` into PGFERRY_SOURCE_URL / PGFERRY_TARGET_URL, so the
 * passwords they hold never show on a process command line (visible to every user in `ps`).
 */
export function urlsToEnv(args: string[]): { args: string[]; env: Record<string, string> } {
  const rest: string[] = [];
  const env: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if ((flag === "--source" || flag === "--target") && args[i + 1] !== undefined) {
      env[flag === "--source" ? "PGFERRY_SOURCE_URL" : "PGFERRY_TARGET_URL"] = args[++i]!;
    } else rest.push(flag);
  }
  return { args: rest, env };
}

let scratch: string | undefined;

/**
 * Where the CLI runs unless a test says otherwise: a directory of this test process's own, so
 * the log file commands keep by default (./pgferry.log) never lands in the checkout.
 */
export function scratchDir(): string {
  scratch ??= mkdtempSync(path.join(os.tmpdir(), "pgferry-cli-"));
  return scratch;
}

export function spawnPgferry(
  rawArgs: string[],
  extraEnv: Record<string, string> = {},
  opts: { cwd?: string } = {},
): PgferryProcess {
  const { args, env } = urlsToEnv(rawArgs);
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? scratchDir(),
    env: { ...process.env, NO_COLOR: "1", ...env, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const collect = (into: string[]) => {
    let rest = "";
    return (data: Buffer) => {
      const parts = (rest + data.toString("utf8")).split("\n");
      rest = parts.pop() ?? "";
      into.push(...parts);
    };
  };
  child.stdout!.on("data", collect(stdout));
  child.stderr!.on("data", collect(stderr));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout,
    stderr,
    exited,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Polls `probe` until it returns a value other than undefined/false; fails after timeoutMs. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; while?: PgferryProcess } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let exited = false;
  void opts.while?.exited.then(() => {
    exited = true;
  });
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (exited) {
      const p = opts.while!;
      throw new Error(`pgferry exited while waiting for ${what}:\n${[...p.stdout, ...p.stderr].join("\n")}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}
