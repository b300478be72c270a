import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { LocalServer } from "../src/local-server/index.js";

// Linux reports process times in clock ticks; 100 per second on every mainstream build.
const TICKS_PER_SECOND = 100;

function statFields(pid: string): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces: the fields start after its closing parenthesis.
    return raw.slice(raw.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds the whole server has used: the postmaster's own and reaped children's times
 * (backends that have exited), plus every live child's. Unlike TPS, this does not depend on
 * what else the machine is doing, so it shows what a workload costs the server.
 */
export function serverCpuSeconds(server: LocalServer): number {
  const pid = readFileSync(path.join(server.dataDir, "postmaster.pid"), "utf8").split("\n")[0]!.trim();
  const own = statFields(pid);
  if (!own) throw new Error(`no such process: the postmaster ${pid}`);
  // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(entry);
    if (f && f[1] === pid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / TICKS_PER_SECOND;
}
