import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { freePort, type LocalDatabase } from "../../src/local-server/index.js";
import { testPairs } from "../harness/pairs.js";
import { sourceDb, targetDb } from "../harness/servers.js";

// Recognisable, and with characters a URL must percent-encode, so both forms can be looked for.
const PASSWORD = "Sup3rSecretPw!@#";
const ENCODED = encodeURIComponent(PASSWORD);
const repoRoot = path.resolve(import.meta.dirname, "../..");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)("node", ["bin/pgferry.js", ...args], {
      cwd: repoRoot,
      env: { ...process.env, PGFERRY_SOURCE_URL: "", PGFERRY_TARGET_URL: "", NO_COLOR: "1", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface Case {
  name: string;
  args: (urls: Urls) => string[];
  env?: (urls: Urls) => Record<string, string>;
  exit: 1 | 2;
  /** The first line of stderr. */
  error: RegExp;
  hint: RegExp;
}

interface Urls {
  source: string;
  target: string;
  refused: string;
}

const CASES: Case[] = [
  {
    name: "a wildcard where `tables remove` wants one table",
    args: (u) => ["tables", "remove", "public.*", "--source", u.refused, "--target", u.refused],
    exit: 2,
    error: /^error TABLE_NOT_MIGRATED: Not a schema\.table name: "public\.\*"\.$/,
    hint: /double-quote a part that holds a dot/,
  },
  {
    name: "an unknown flag",
    args: (u) => ["check", "--source", u.source, "--target", u.target, "--bogus"],
    exit: 2,
    error: /^error USAGE: Unknown option '--bogus'\.$/,
    hint: /pgferry --help/,
  },
  {
    name: "a URL given as an argument instead of a flag",
    args: (u) => ["check", u.source],
    exit: 2,
    error: /^error USAGE: Too many arguments for 'check'/,
    hint: /pgferry --help/,
  },
  {
    name: "a malformed source URL",
    args: (u) => ["check", "--source", `postgres://app:${PASSWORD}@`, "--target", u.target],
    exit: 2,
    error: /^error BAD_URL \(source\): The source URL is not a valid connection URL\.$/,
    hint: /postgres:\/\/USER@HOST:5432\/DBNAME\?sslmode=require, with the password after USER/,
  },
  {
    name: "a target URL of another scheme",
    args: (u) => ["check", "--source", u.source, "--target", `mysql://app:${ENCODED}@db.example.com/app`],
    exit: 2,
    error:
      /^error BAD_URL \(target\): The target URL must start with postgres:\/\/ or postgresql:\/\/, not mysql:\/\/\.$/,
    hint: /postgres:\/\//,
  },
  {
    name: "an unknown sslmode",
    args: (u) => [
      "check",
      "--source",
      u.source.replace("sslmode=require", "sslmode=sometimes"),
      "--target",
      u.target,
    ],
    exit: 2,
    error: /^error BAD_URL \(source\): The source URL has sslmode=sometimes; use one of disable, /,
    hint: /sslmode=require/,
  },
  {
    name: "a missing source URL",
    args: (u) => ["check", "--target", u.target],
    exit: 2,
    error: /^error MISSING_URL \(source\): No source URL: pass --source or set PGFERRY_SOURCE_URL\.$/,
    hint: /PGFERRY_SOURCE_URL/,
  },
  {
    name: "both URLs missing, reported together",
    args: () => ["check"],
    exit: 2,
    error: /^error MISSING_URL: No source URL: .* No target URL: pass --target or set PGFERRY_TARGET_URL\.$/,
    hint: /PGFERRY_TARGET_URL/,
  },
  {
    name: "a bad --jobs value",
    args: (u) => ["check", "--source", u.source, "--target", u.target, "--jobs", "0"],
    exit: 2,
    error:
      /^error USAGE: Option '--jobs <n>' argument '0' is invalid\. --jobs must be a whole number of at least 1\.$/,
    hint: /--help/,
  },
  {
    // Issue 17, item 9: PostgreSQL's lock_timeout 0 waits forever, queueing the app's writers.
    name: "--lock-timeout 0",
    args: (u) => ["start", "--source", u.source, "--target", u.target, "--lock-timeout", "0"],
    exit: 2,
    error:
      /^error USAGE: Option '--lock-timeout <seconds>' argument '0' is invalid\. --lock-timeout must be between 0\.001 and 60 seconds \(0 would make PostgreSQL wait forever, queueing the application's writes behind pgferry\)\.$/,
    hint: /--help/,
  },
  {
    name: "a bad table pattern",
    args: (u) => ["check", "--source", u.source, "--target", u.target, "--exclude", "a.b.c"],
    exit: 2,
    error:
      /^error BAD_OPTION: Bad table pattern "a\.b\.c": more than one unquoted dot \(quote a name that holds one\)\.$/,
    hint: /public\.\*/,
  },
  {
    name: "a refused connection",
    args: (u) => ["check", "--source", u.refused, "--target", u.target],
    exit: 1,
    error:
      /^error CONNECTION_REFUSED \(source\): Cannot connect to the source \(127\.0\.0\.1:\d+\/app\): connection refused\.$/,
    hint: /server is running/,
  },
  {
    name: "a wrong password",
    args: (u) => ["check", "--source", u.source, "--target", u.target.replace(ENCODED, `${ENCODED}x`)],
    exit: 1,
    error:
      /^error AUTH_FAILED \(target\): The target \(.*\) rejected the password for user "tgt_\w+_owner"\.$/,
    hint: /user name and password/,
  },
  {
    name: "a missing database",
    args: (u) => ["check", "--source", u.source.replace(/\/src_\w+\?/, "/no_such_db?"), "--target", u.target],
    exit: 1,
    error: /^error DATABASE_NOT_FOUND \(source\): The source database "no_such_db" does not exist\.$/,
    hint: /database name/,
  },
  {
    name: "sslmode=disable against a server that requires SSL",
    args: (u) => [
      "check",
      "--source",
      u.source.replace("sslmode=require", "sslmode=disable"),
      "--target",
      u.target,
    ],
    exit: 1,
    error:
      /^error SSL_REQUIRED \(source\): The source \(.*\) requires SSL, but the URL says sslmode=disable\.$/,
    hint: /sslmode=require/,
  },
  {
    name: "URLs from the environment, the source refused",
    args: () => ["check"],
    env: (u) => ({ PGFERRY_SOURCE_URL: u.refused, PGFERRY_TARGET_URL: u.target }),
    exit: 1,
    error: /^error CONNECTION_REFUSED \(source\): /,
    hint: /server is running/,
  },
];

describe("pgferry check: bad input and failed connections", () => {
  let urls: Urls;
  const runs = new Map<string, { plain: Run; debug: Run }>();

  beforeAll(async () => {
    const major = testPairs()[0]!.source;
    const [source, target]: LocalDatabase[] = await Promise.all([
      sourceDb(major, { password: PASSWORD }),
      targetDb(major, { password: PASSWORD }),
    ]);
    urls = {
      source: source!.url,
      target: target!.url,
      refused: `postgres://app:${ENCODED}@127.0.0.1:${await freePort()}/app?sslmode=require`,
    };
    // Every case runs twice, plainly and with --debug; a few at a time to spare the two cores.
    const jobs = CASES.flatMap((c) => [false, true].map((debug) => ({ c, debug })));
    for (let i = 0; i < jobs.length; i += 4) {
      await Promise.all(
        jobs.slice(i, i + 4).map(async ({ c, debug }) => {
          const run = await cli([...(debug ? ["--debug"] : []), ...c.args(urls)], c.env?.(urls));
          const entry = runs.get(c.name) ?? ({} as { plain: Run; debug: Run });
          entry[debug ? "debug" : "plain"] = run;
          runs.set(c.name, entry);
        }),
      );
    }
  });

  it.each(CASES)("$name: exit $exit, one line naming the problem, and a hint", (c) => {
    const { plain } = runs.get(c.name)!;
    expect(plain.code).toBe(c.exit);
    expect(plain.stdout).toBe("");
    const lines = plain.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(c.error);
    expect(lines[1]).toMatch(/^ {2}hint: /);
    expect(lines[1]).toMatch(c.hint);
  });

  it.each(CASES)("$name: the same status with --debug, with the stack", (c) => {
    const { debug } = runs.get(c.name)!;
    expect(debug.code).toBe(c.exit);
    expect(debug.stderr.split("\n")[0]).toMatch(c.error);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it("never prints the password, plain or percent-encoded, with or without --debug", () => {
    expect(runs.size).toBe(CASES.length);
    for (const [name, { plain, debug }] of runs) {
      for (const text of [plain.stdout, plain.stderr, debug.stdout, debug.stderr]) {
        expect(text, name).not.toContain("Sup3rSecret");
        expect(text, name).not.toContain(ENCODED);
      }
    }
  });
});
