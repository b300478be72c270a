/**
 * The write-unavailability window of a cutover on a database of ~50 tables, with an app writing
 * continuously: the median of several runs, per step too. Run by hand (not a test):
 *
 *   npx tsx bench/cutover-window.ts [--runs 5] [--tables 50] [--rows 2000] [--mode overlap|sequential|both]
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import type { MigrationContext } from "../src/context.js";
import { type CutoverResult, cutover } from "../src/cutover/index.js";
import { parseConnUrl } from "../src/db/index.js";
import type { LocalDatabase } from "../src/local-server/index.js";
import { runMigration } from "../src/migration.js";
import { APP_SCHEMA, AppClient, switchCommandFor } from "../test/harness/app-client.js";
import { sleep } from "./proc.js";
import { dropTarget, freshTarget, sourceDatabase, startServers } from "./servers.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    tables: { type: "string", default: "50" },
    rows: { type: "string", default: "2000" },
    mode: { type: "string", default: "both" },
  },
});
const RUNS = Number(values.runs);
const TABLES = Number(values.tables);
const ROWS = Number(values.rows);
const MODES = values.mode === "both" ? ["overlap", "sequential"] : [values.mode!];

/** APP_SCHEMA (2 tables, FK, trigger, matview) plus TABLES-2 more, a third of them with a FK to app.customers. */
function schema(): string {
  const extra: string[] = [];
  for (let i = 1; i <= TABLES - 2; i++) {
    const fk = i % 3 === 0 ? " references app.customers (id)" : "";
    extra.push(`create table app.t${i} (id bigserial primary key, customer_id bigint${fk}, label text, amount numeric,
      at timestamptz default now());
      insert into app.t${i} (customer_id, label, amount) select 1 + g % 8, md5(g::text), g / 7.0 from generate_series(1, ${ROWS}) g;`);
  }
  return `${APP_SCHEMA}\n${extra.join("\n")}`;
}

function client(db: LocalDatabase): pg.Client {
  return new pg.Client({ connectionString: db.url.replace(/\?.*$/, ""), ssl: { rejectUnauthorized: false } });
}

/** Updates random rows of the extra tables on the source, until stopped (fenced writes just fail). */
function backgroundWriter(db: LocalDatabase): { stop(): Promise<void> } {
  let stopping = false;
  const loop = async () => {
    const c = client(db);
    c.on("error", () => {});
    await c.connect();
    while (!stopping) {
      const t = 1 + Math.floor(Math.random() * (TABLES - 2));
      await c
        .query(`update app.t${t} set amount = amount + 1 where id = $1`, [
          1 + Math.floor(Math.random() * ROWS),
        ])
        .catch(() => sleep(20));
      await sleep(2);
    }
    await c.end().catch(() => {});
  };
  const loops = [loop(), loop()];
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

async function waitStreaming(target: LocalDatabase): Promise<void> {
  const c = client(target);
  await c.connect().catch(() => {});
  try {
    for (;;) {
      const { rows } = await c
        .query("select phase, extract(epoch from now() - heartbeat_at)::float8 as lag from pgferry.migration")
        .catch(() => ({ rows: [] as { phase: string; lag: number | null }[] }));
      if (rows[0]?.phase === "streaming" && rows[0].lag !== null && rows[0].lag < 2) return;
      await sleep(200);
    }
  } finally {
    await c.end();
  }
}

async function oneRun(
  servers: Awaited<ReturnType<typeof startServers>>,
  i: number,
  mode: string,
): Promise<CutoverResult> {
  const source = await sourceDatabase(servers, `cw_src_${i}`);
  const target = await freshTarget(servers, `cw_tgt_${i}`);
  const c = client(source);
  await c.connect();
  await c.query(schema());
  await c.end();
  const stop = new AbortController();
  const base = { source: parseConnUrl(source.url, "source"), target: parseConnUrl(target.url, "target") };
  const ctx: MigrationContext = { ...base, signal: stop.signal, emit: () => {} };
  const started = runMigration(ctx, { jobs: 2, skipCheck: true });
  await waitStreaming(target);
  const switchFile = path.join(mkdtempSync(path.join(os.tmpdir(), "cw-")), "url");
  const app = await AppClient.start({ sourceUrl: source.url, targetUrl: target.url, switchFile });
  const writer = backgroundWriter(source);
  await sleep(3000);
  const result = await cutover(
    { ...base, signal: new AbortController().signal, emit: () => {} },
    { switchCommand: switchCommandFor(switchFile), overlap: mode === "overlap" },
  );
  await sleep(500);
  await Promise.all([app.stop(), writer.stop()]);
  await started;
  const lost = app.failures.filter((f) => f.code !== "25006").length;
  if (lost) console.log(`  (run ${i}: ${lost} failures other than 25006)`);
  rmSync(path.dirname(switchFile), { recursive: true, force: true });
  await dropTarget(servers, target);
  await servers.source.admin("postgres", `drop database if exists ${source.database} with (force)`);
  return result;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
};

const servers = await startServers();
try {
  const results = new Map<string, CutoverResult[]>(MODES.map((m) => [m, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const mode of MODES) {
      const r = await oneRun(servers, results.size * i + MODES.indexOf(mode), mode);
      results.get(mode)!.push(r);
      console.log(
        `${mode} run ${i + 1}: ${r.unavailableMs} ms (${r.steps.map((s) => `${s.name} ${s.ms}`).join(", ")})`,
      );
    }
  }
  for (const [mode, rs] of results) {
    const names = rs[0]!.steps.map((s) => s.name);
    const perStep = names.map(
      (n) => `${n} ${median(rs.map((r) => r.steps.find((s) => s.name === n)?.ms ?? 0))}`,
    );
    console.log(
      `\n${mode}: ${TABLES} tables, ${RUNS} runs: median window ${median(rs.map((r) => r.unavailableMs))} ms ` +
        `(min ${Math.min(...rs.map((r) => r.unavailableMs))}, max ${Math.max(...rs.map((r) => r.unavailableMs))})`,
    );
    console.log(`  median per step: ${perStep.join(", ")}`);
  }
} finally {
  await servers.stop();
}
