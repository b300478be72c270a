import os from "node:os";
import type { BenchOptions } from "./args.js";
import type { CaptureVariantsResult } from "./capture-variants.js";
import type { Dataset } from "./dataset.js";
import type { DumpRestoreResult } from "./dump-restore.js";
import type { InstructionsResult } from "./instructions.js";
import type { Distribution } from "./lag.js";
import type { PgcopydbResult } from "./pgcopydb.js";
import type { PgferryCopyResult } from "./pgferry-copy.js";
import type { RawPipeResult } from "./raw-pipe.js";
import type { StreamBenchResult } from "./replay.js";
import type { StartupResult } from "./startup.js";
import type { TriggerOverheadResult } from "./trigger-overhead.js";

/** A copy contender's result with the CPU its client processes used. */
export type Timed<T> = T & { clientCpuSeconds: number };

export interface BenchResults {
  startedAt: string;
  options: BenchOptions;
  dataset: Dataset;
  raw?: Timed<RawPipeResult>;
  dump?: Timed<DumpRestoreResult>;
  pgcopydb?: Timed<PgcopydbResult>;
  pgferry?: Timed<PgferryCopyResult>;
  /** The same with an older pgferry (PGFERRY_BENCH_BASELINE), for before/after in one run. */
  baseline?: Timed<PgferryCopyResult>;
  /** Why a section produced no figures. */
  failures: Record<string, string>;
  /** 1-minute load average as each section began: other work on the machine skews figures. */
  loadAverages: Record<string, number>;
  /** End-to-end seconds of every run of each copy contender (the fastest is in the table). */
  copyRuns: Record<string, number[]>;
  triggers?: TriggerOverheadResult;
  /** The same trigger overhead in instructions (callgrind), or why it was not counted. */
  instructions?: InstructionsResult | { skipped: string };
  /** Issue 15: every capture design tried, in instructions, or why it was not counted. */
  captureVariants?: CaptureVariantsResult | { skipped: string };
  stream?: StreamBenchResult;
  /** `pgferry --help` from the installed package against `node -e 0`. */
  startup?: StartupResult;
  totalSeconds: number;
}

const MB = 2 ** 20;
const f = (n: number | undefined, digits = 1): string =>
  n === undefined || !Number.isFinite(n)
    ? "–"
    : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const int = (n: number | undefined): string =>
  n === undefined || !Number.isFinite(n) ? "–" : Math.round(n).toLocaleString("en-US");
const goal = (ok: boolean): string => (ok ? "met" : "NOT met");

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

function copyRows(r: BenchResults): string[][] {
  const { bytes, rows } = r.dataset;
  const gb = bytes / 2 ** 30;
  const row = (
    name: string,
    copy: number | undefined,
    index: string,
    total: number,
    cpu: number,
    extra: string,
  ) => [
    name,
    f(copy),
    copy ? f(bytes / MB / copy) : "–",
    copy ? int(rows / copy) : "–",
    index,
    f(total),
    f(bytes / MB / total),
    int(rows / total),
    `${f(cpu)} (${f(cpu / gb)})`,
    extra,
  ];
  const out: string[][] = [];
  if (r.raw) {
    const x = r.raw;
    out.push(
      row(
        `raw pipe (psql \\| psql, ${x.pieces} pieces)`,
        x.copySeconds,
        f(x.indexSeconds),
        x.totalSeconds,
        x.clientCpuSeconds,
        check(x.mismatches),
      ),
    );
  }
  if (r.dump) {
    const x = r.dump;
    out.push(
      row(
        `pg_dump -Fd + pg_restore (${f(x.dumpSeconds)} s + ${f(x.restoreSeconds)} s)`,
        undefined,
        "incl.",
        x.totalSeconds,
        x.clientCpuSeconds,
        check(x.mismatches),
      ),
    );
  }
  if (r.pgcopydb) {
    const x = r.pgcopydb;
    out.push(
      row(
        `pgcopydb ${x.version} clone`,
        undefined,
        "incl.",
        x.totalSeconds,
        x.clientCpuSeconds,
        check(x.mismatches),
      ),
    );
  }
  for (const [label, x] of [
    ["pgferry start", r.pgferry],
    ["pgferry baseline start", r.baseline],
  ] as const) {
    if (!x) continue;
    out.push(
      row(
        `${label} (${x.chunks} chunks)`,
        x.copySeconds,
        f(x.indexTailSeconds),
        x.totalSeconds,
        x.clientCpuSeconds,
        `${check(x.mismatches)}; peak RSS ${int(x.peakMemoryMb)} MB`,
      ),
    );
  }
  return out;
}

function check(mismatches: string[]): string {
  return mismatches.length === 0 ? "row counts match" : `MISMATCH: ${mismatches.join("; ")}`;
}

function copySection(r: BenchResults): string[] {
  const d = r.dataset;
  const out = [
    "## Copy: one database, empty target each time",
    "",
    `Dataset: ${f(d.bytes / MB)} MB of table data (heap + TOAST) in ${int(d.rows)} rows, ${f(d.indexBytes / MB)} MB of indexes on the source; ${d.tables.length} tables (${d.tables.map((t) => `${t.name} ${f(t.bytes / MB)} MB`).join(", ")}). Generated in ${f(d.generateSeconds)} s. Parallelism: ${r.options.jobs} for every contender. Each contender ran ${r.options.repeat} time(s), interleaved; the table shows its fastest run (end to end of every run: ${Object.entries(
      r.copyRuns,
    )
      .filter(([, v]) => v.length > 0)
      .map(([k, v]) => `${k} ${v.map((x) => f(x)).join(", ")} s`)
      .join("; ")}).`,
    "",
    table(
      [
        "contender",
        "data copy s",
        "copy MB/s",
        "copy rows/s",
        "indexes s",
        "end to end s",
        "e2e MB/s",
        "e2e rows/s",
        "client CPU s (per GB)",
        "notes",
      ],
      copyRows(r),
    ),
    "",
  ];
  const { raw, dump, pgcopydb, pgferry, baseline } = r;
  if (pgferry && pgcopydb) {
    const ratio = pgferry.totalSeconds / pgcopydb.totalSeconds;
    out.push(
      `- pgferry's end-to-end time / pgcopydb clone's: **${f(ratio, 3)}×** (goal ≤ 0.9: ${goal(ratio <= 0.9)}); client CPU ${f(pgferry.clientCpuSeconds / Math.max(pgcopydb.clientCpuSeconds, 0.01), 1)}× pgcopydb's`,
    );
  }
  if (pgferry && baseline) {
    out.push(
      `- pgferry now / the baseline build (PGFERRY_BENCH_BASELINE), same run: end to end **${f(pgferry.totalSeconds / baseline.totalSeconds, 3)}×**, client CPU ${f(pgferry.clientCpuSeconds / Math.max(baseline.clientCpuSeconds, 0.01), 2)}×, peak RSS ${int(baseline.peakMemoryMb)} → ${int(pgferry.peakMemoryMb)} MB${pgcopydb ? `; the baseline / pgcopydb: ${f(baseline.totalSeconds / pgcopydb.totalSeconds, 3)}×` : ""}`,
    );
  }
  if (pgferry && raw) {
    const ratio = raw.copySeconds / pgferry.copySeconds;
    out.push(
      `- pgferry / raw pipe, data copy throughput: **${f(ratio, 3)}×** (goal ≥ 0.9: ${goal(ratio >= 0.9)})`,
    );
    out.push(
      `- pgferry / raw pipe + pg_restore post-data, end to end: ${f(raw.totalSeconds / pgferry.totalSeconds, 3)}×`,
    );
  }
  if (pgferry && dump) {
    const ratio = dump.totalSeconds / pgferry.totalSeconds;
    out.push(
      `- pgferry / dump-restore, end to end with indexes: **${f(ratio, 3)}×** (goal > 1: ${goal(ratio > 1)})`,
    );
  }
  if (pgferry) {
    out.push(
      `- pgferry peak memory (VmHWM): **${int(pgferry.peakMemoryMb)} MB** (goal ≤ 100 MB: ${goal(pgferry.peakMemoryMb <= 100)}); prepare (check, schema, triggers) ${f(pgferry.prepareSeconds)} s`,
    );
  }
  if (dump?.warnings.length) out.push(`- pg_restore reported: ${dump.warnings.join(" / ")}`);
  return out;
}

function instructionLines(i: InstructionsResult | { skipped: string } | undefined): string[] {
  if (i === undefined) return [];
  if ("skipped" in i) return [`- instructions per transaction: not counted (${i.skipped})`];
  return [
    `- instructions per transaction (callgrind, one backend in single-user mode, ${int(i.transactions)} transactions, the same on every run): ${int(i.without)} without, ${int(i.with)} with the triggers: **+${f(i.overhead * 100)} %**. No network or protocol work is counted, so this is an upper bound of the CPU a client-server transaction pays for capture.`,
    ...keylessLines(i.keyless),
  ];
}

/** Issue 11: a table without a key (its whole row logged) next to a keyed one. */
function keylessLines(k: InstructionsResult["keyless"]): string[] {
  if (!k) return [];
  return [
    `- a table without a key (pgbench_history as pgbench makes it, its whole row logged) next to a keyed one (the bench's \`id\` primary key): capturing one INSERT costs **${int(k.captureKeyless)}** instructions keyless against **${int(k.captureKeyed)}** keyed (${int(k.insertKeylessWithout)} → ${int(k.insertKeylessWith)} and ${int(k.insertKeyedWithout)} → ${int(k.insertKeyedWith)} per one-insert transaction); TPC-B-like with pgbench_history keyless: ${int(k.tpcbWithout)} without, ${int(k.tpcbWith)} with the triggers: **+${f(k.tpcbOverhead * 100)} %**.`,
  ];
}

function triggerSection(t: TriggerOverheadResult, i?: InstructionsResult | { skipped: string }): string[] {
  const o = t.options;
  return [
    "## Capture trigger overhead on the source (pgbench TPC-B-like)",
    "",
    `pgbench scale ${t.scale}, -c ${o.clients} -j ${o.threads} -T ${o.seconds}, ${t.without.length} round(s) each, interleaved (without, with, with, without, …). pgbench_history was given \`id bigserial primary key\` for both runs. ${f(t.logRowsPerTransaction, 2)} log rows per transaction.`,
    "",
    table(
      ["", "TPS", "latency avg ms", "server CPU ms / transaction", "runs (TPS)"],
      [
        [
          "without triggers",
          f(t.tpsWithout),
          f(t.latencyWithout, 2),
          f(t.cpuMsWithout, 3),
          t.without.map((x) => f(x.tps, 0)).join(", "),
        ],
        [
          "with capture triggers",
          f(t.tpsWith),
          f(t.latencyWith, 2),
          f(t.cpuMsWith, 3),
          t.with.map((x) => f(x.tps, 0)).join(", "),
        ],
      ],
    ),
    "",
    `- TPS overhead: **${f(t.medianOverhead * 100)} %** as the median of the per-round ratios (goal < 10 %: ${goal(t.medianOverhead < 0.1)}); ${f(t.overhead * 100)} % from the mean TPS of each side`,
    `- source server CPU per transaction: **+${f(t.cpuOverhead * 100)} %** (median of the per-round ratios; less skewed by other load on the machine than TPS)`,
    ...instructionLines(i),
  ];
}

function dist(d: Distribution): string {
  return `${f(d.p50, 2)} / ${f(d.p95, 2)} / ${f(d.max, 2)} (${d.samples})`;
}

function variantsSection(v: CaptureVariantsResult | { skipped: string }): string[] {
  if ("skipped" in v) return ["## Capture variants", "", `Not counted: ${v.skipped}.`];
  return [
    "## Capture variants",
    "",
    `Instructions added per TPC-B-like transaction (four captured rows) by each capture design, installed alone on the four pgbench tables (callgrind, ${int(v.transactions)} transactions, ${int(v.without)} per transaction without triggers). "(bound)" rows are not safe to ship: they show what a part costs. Goal: at most +130,000.`,
    "",
    table(
      ["variant", "added instructions", "%", "log rows per transaction", "what"],
      v.variants.map((x) => [
        x.name,
        `+${int(x.added)}`,
        f((x.added / v.without) * 100),
        f(x.logRows, 2),
        x.what,
      ]),
    ),
  ];
}

function streamSection(s: StreamBenchResult): string[] {
  const r = s.replay;
  return [
    "## Replay and lag",
    "",
    `Burst while no stream ran: ${int(r.burstTransactions)} pgbench transactions in ${f(r.burstSeconds)} s (${f(r.burstTps)} TPS), ${int(r.logRows)} log rows (${int(r.distinctKeys)} distinct keys): the source wrote ${int(r.sourceRowsPerSecond)} changed rows/s. Once caught up, counts and balance sums of the four tables ${r.matches ? "match the source" : "DIFFER from the source"}.`,
    `\`pgferry start\` caught up in ${f(r.catchUpSeconds)} s (from spawn): **${int(r.replayRowsPerSecond)} changed rows/s** (${int(r.replayKeysPerSecond)} distinct keys/s); goal > source write rate: ${goal(r.replayRowsPerSecond > r.sourceRowsPerSecond)}. Leaving out the ${f(r.startupSeconds)} s from spawn to the first window committed: ${int(r.steadyRowsPerSecond)} log rows/s.`,
    "",
    table(
      [
        "load",
        "achieved TPS",
        "pgbench latency ms",
        "heartbeat lag p50 / p95 / max s (samples)",
        "commit to applied p50 / p95 / max s (probes)",
        "source CPU ms per transaction",
      ],
      s.lag.map((l) => [
        `pgbench -R ${l.rate}`,
        f(l.achievedTps),
        f(l.latencyMs, 2),
        dist(l.heartbeat),
        dist(l.probe),
        f(l.sourceCpuMsPerTransaction, 3),
      ]),
    ),
    "",
    ...s.lag.map(
      (l) =>
        `- heartbeat lag p95 at ${l.rate} TPS: ${f(l.heartbeat.p95, 2)} s${l.rate === 500 ? ` (goal < 1 s: ${goal(l.heartbeat.p95 < 1)})` : ""}; commit to applied p95 ${f(l.probe.p95, 2)} s`,
    ),
    "- source CPU per transaction: every source server process's CPU over the load (the transaction, its capture, and the stream's log reads, row fetches, log cleanup and heartbeats), divided by pgbench's transactions.",
    ...(s.idleSourceCpuMsPerSecond === undefined
      ? []
      : [
          `- source CPU while pgferry streamed and nothing wrote: ${f(s.idleSourceCpuMsPerSecond)} ms per second (the stream's fixed cost, spread over a load's transactions: ${s.lag.map((l) => `${f(s.idleSourceCpuMsPerSecond! / l.achievedTps, 3)} ms each at ${l.rate} TPS`).join(", ")})`,
        ]),
    ...(s.notStreaming ?? []).map((n) => {
      const l = s.lag.find((x) => x.rate === n.rate);
      const diff = l
        ? ` — the stream's share: ${f(l.sourceCpuMsPerTransaction - n.sourceCpuMsPerTransaction, 3)} ms per transaction`
        : "";
      return `- the same load at ${n.rate} TPS with the capture installed and nothing streaming (pgferry stopped): ${f(n.achievedTps)} TPS, source CPU ${f(n.sourceCpuMsPerTransaction, 3)} ms per transaction${diff}`;
    }),
    `- streaming pgferry peak memory: ${int(s.peakMemoryMb)} MB`,
  ];
}

export function renderReport(r: BenchResults): string {
  const cpu = os.cpus();
  const lines = [
    `# pgferry benchmark, ${r.startedAt}`,
    "",
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "?"}, ${f(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}. Source PostgreSQL 15 (Heroku-like: owner role, SSL required), target PostgreSQL 16 (RDS-like owner role), both local, fsync off on both. Run took ${f(r.totalSeconds / 60)} min. 1-minute load average as each section began: ${Object.entries(
      r.loadAverages,
    )
      .map(([k, v]) => `${k} ${f(v)}`)
      .join(", ")}.`,
    "",
    ...copySection(r),
  ];
  for (const [section, why] of Object.entries(r.failures)) lines.push(`- ${section}: no figures (${why})`);
  if (r.triggers) lines.push("", ...triggerSection(r.triggers, r.instructions));
  if (r.captureVariants) lines.push("", ...variantsSection(r.captureVariants));
  if (r.stream) lines.push("", ...streamSection(r.stream));
  if (r.startup) lines.push("", ...startupSection(r.startup));
  return `${lines.join("\n")}\n`;
}

export function startupSection(s: StartupResult): string[] {
  return [
    "## CLI start-up",
    "",
    `\`pgferry --help\` from the installed package: median ${int(s.helpMs)} ms, against ${int(s.nodeMs)} ms for a bare \`node -e 0\` (${s.runs} interleaved runs each): ${f(s.ratio, 2)}× (goal under 2×: ${goal(s.ratio < 2)}).`,
  ];
}
