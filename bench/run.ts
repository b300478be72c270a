import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseBenchArgs } from "./args.js";
import { runCaptureVariants } from "./capture-variants.js";
import { generateDataset, planDataset } from "./dataset.js";
import { type DumpRestoreResult, runDumpRestore } from "./dump-restore.js";
import { runInstructionCount, valgrindAvailable } from "./instructions.js";
import { type PgcopydbResult, runPgcopydb } from "./pgcopydb.js";
import { type PgferryCopyResult, runPgferryCopy } from "./pgferry-copy.js";
import { buildOnce } from "./pgferry-process.js";
import { childCpuSeconds } from "./proc.js";
import { type RawPipeResult, runRawPipe } from "./raw-pipe.js";
import { runStreamBench } from "./replay.js";
import { type BenchResults, renderReport, startupSection, type Timed } from "./report.js";
import { sourceDatabase, startServers } from "./servers.js";
import { runStartup, type StartupResult } from "./startup.js";
import { runTriggerOverhead } from "./trigger-overhead.js";

const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");

function say(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function fastest<T extends { totalSeconds: number }>(runs: T[]): T | undefined {
  return runs.length === 0 ? undefined : runs.reduce((a, b) => (b.totalSeconds < a.totalSeconds ? b : a));
}

async function main(): Promise<void> {
  const opts = parseBenchArgs(process.argv.slice(2));
  const started = performance.now();
  const pgferryArgs = (process.env["PGFERRY_BENCH_ARGS"] ?? "").split(" ").filter(Boolean);
  // Before/after in one run: an older pgferry's entry module, run interleaved as its own contender.
  const baseline = process.env["PGFERRY_BENCH_BASELINE"] || undefined;
  // Before the servers start: it needs none, and measures start-up on a machine at rest.
  let startup: StartupResult | string | undefined;
  if (opts.sections.has("startup")) {
    say("cli startup: npm pack, install into an empty project, time `pgferry --help` against `node -e 0`");
    startup = await runStartup(opts.quick ? 5 : 15).catch((err: Error) => err.message.split("\n")[0]!);
    say(`cli startup: ${JSON.stringify(startup)}`);
    if (opts.sections.size === 1) {
      // Nothing else asked for: no servers, no dataset.
      if (typeof startup === "string") throw new Error(startup);
      process.stdout.write(`\n${startupSection(startup).join("\n")}\n`);
      return;
    }
  }
  say(`starting PostgreSQL 15 (source) and 16 (target); dataset ${opts.sizeMb} MB, ${opts.jobs} jobs`);
  const servers = await startServers();
  const onSignal = () => {
    say("interrupted: stopping the servers");
    void servers.stop().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const source = await sourceDatabase(servers, "bench_copy");
    const plan = planDataset(opts.sizeMb);
    say(`generating: pgbench scale ${plan.pgbenchScale}, ${plan.documents} documents, ${plan.events} events`);
    const dataset = await generateDataset(source, plan);
    // The load left dirty buffers: written out now, not during the first contender's run.
    await servers.source.admin("postgres", "checkpoint");
    say(
      `dataset: ${(dataset.bytes / 2 ** 20).toFixed(0)} MB, ${dataset.rows} rows in ${dataset.generateSeconds.toFixed(1)} s`,
    );
    const results: BenchResults = {
      startedAt: new Date().toISOString(),
      options: opts,
      dataset,
      failures: {},
      loadAverages: {},
      copyRuns: {},
      totalSeconds: 0,
    };
    if (typeof startup === "string") results.failures["cli startup"] = startup;
    else if (startup) results.startup = startup;
    const attempt = async <T>(name: string, work: () => Promise<T>): Promise<T | undefined> => {
      results.loadAverages[name] = os.loadavg()[0]!;
      say(`${name}… (1-min load average ${os.loadavg()[0]!.toFixed(1)})`);
      try {
        const res = await work();
        say(`${name}: ${JSON.stringify(res)}`);
        return res;
      } catch (err) {
        const lines = (err as Error).message.split("\n");
        // The first line says what was awaited, the last ones why it stopped.
        results.failures[name] = [lines[0], ...lines.slice(1).slice(-3)].join(" / ");
        say(`${name} failed: ${(err as Error).message}`);
        return undefined;
      }
    };
    const s = opts.sections;
    if (s.has("pgferry") || s.has("replay") || s.has("lag")) buildOnce();
    // Interleaved repeats, best kept: other load on the machine only ever slows a run down.
    const runs = {
      raw: [] as Timed<RawPipeResult>[],
      dump: [] as Timed<DumpRestoreResult>[],
      pgcopydb: [] as Timed<PgcopydbResult>[],
      pgferry: [] as Timed<PgferryCopyResult>[],
      baseline: [] as Timed<PgferryCopyResult>[],
    };
    // Each contender's client CPU: what its processes (psql, pg_dump, pgcopydb, pgferry) used.
    const timed = async <T extends object>(name: string, work: () => Promise<T>) => {
      const before = childCpuSeconds();
      const r = await attempt(name, work);
      return r && { ...r, clientCpuSeconds: childCpuSeconds() - before };
    };
    for (let i = 1; i <= opts.repeat; i++) {
      const n = opts.repeat > 1 ? ` #${i}` : "";
      if (s.has("raw")) {
        const r = await timed(`raw pipe${n}`, () =>
          runRawPipe(servers, source, dataset, opts.jobs, opts.rawPerTable),
        );
        if (r) runs.raw.push(r);
      }
      if (s.has("dump")) {
        const r = await timed(`dump-restore${n}`, () => runDumpRestore(servers, source, dataset, opts.jobs));
        if (r) runs.dump.push(r);
      }
      if (s.has("pgcopydb")) {
        const r = await timed(`pgcopydb clone${n}`, () => runPgcopydb(servers, source, dataset, opts.jobs));
        if (r) runs.pgcopydb.push(r);
      }
      if (s.has("pgferry")) {
        const r = await timed(`pgferry start${n}`, () =>
          runPgferryCopy(servers, source, dataset, opts.jobs, pgferryArgs),
        );
        if (r) runs.pgferry.push(r);
      }
      if (s.has("pgferry") && baseline) {
        const r = await timed(`pgferry baseline${n}`, () =>
          runPgferryCopy(servers, source, dataset, opts.jobs, pgferryArgs, baseline),
        );
        if (r) runs.baseline.push(r);
      }
    }
    results.raw = fastest(runs.raw);
    results.dump = fastest(runs.dump);
    results.pgcopydb = fastest(runs.pgcopydb);
    results.pgferry = fastest(runs.pgferry);
    if (results.pgferry) results.pgferry.peakMemoryMb = Math.max(...runs.pgferry.map((r) => r.peakMemoryMb));
    results.baseline = fastest(runs.baseline);
    if (results.baseline)
      results.baseline.peakMemoryMb = Math.max(...runs.baseline.map((r) => r.peakMemoryMb));
    results.copyRuns = {
      raw: runs.raw.map((r) => r.totalSeconds),
      dump: runs.dump.map((r) => r.totalSeconds),
      pgcopydb: runs.pgcopydb.map((r) => r.totalSeconds),
      pgferry: runs.pgferry.map((r) => r.totalSeconds),
      baseline: runs.baseline.map((r) => r.totalSeconds),
    };
    const pgbench = { clients: 4, threads: 2, seconds: opts.pgbenchSeconds };
    if (s.has("triggers"))
      results.triggers = await attempt("trigger overhead", () =>
        runTriggerOverhead(
          servers,
          opts.pgbenchScale,
          { ...pgbench, seconds: opts.triggerSeconds },
          opts.triggerRounds,
        ),
      );
    if (s.has("triggers")) {
      results.instructions = valgrindAvailable()
        ? await attempt("trigger instructions", () => runInstructionCount(opts.quick ? 300 : 1000))
        : { skipped: "valgrind is not installed: apt-get install valgrind" };
    }
    if (s.has("variants")) {
      results.captureVariants = valgrindAvailable()
        ? await attempt("capture variants", () => runCaptureVariants(opts.quick ? 300 : 1000))
        : { skipped: "valgrind is not installed: apt-get install valgrind" };
    }
    if (s.has("replay") || s.has("lag"))
      results.stream = await attempt("replay and lag", () =>
        runStreamBench(servers, {
          scale: opts.pgbenchScale,
          jobs: opts.jobs,
          burst: pgbench,
          lagRates: s.has("lag") ? opts.lagRates : [],
          lagSeconds: opts.lagSeconds,
          extraArgs: pgferryArgs,
        }),
      );
    results.totalSeconds = (performance.now() - started) / 1000;
    const report = renderReport(results);
    process.stdout.write(`\n${report}`);
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, "latest.md"), report);
    writeFileSync(path.join(RESULTS, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
    say(`written ${path.relative(process.cwd(), path.join(RESULTS, "latest.md"))}`);
  } finally {
    await servers.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
