import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import pg from "pg";

/**
 * An application-like client for cutover tests: several connections writing and reading in a
 * loop, the way a web app would, each recording every write a database acknowledged. It reads
 * the database URL to use from a file; a switch command that rewrites the file moves it (every
 * connection finishes its current operation, reconnects, and the client writes `<file>.ack`
 * with the new URL once all have moved). Writes refused by a fence (SQLSTATE 25006) are
 * recorded and retried, as an app with a retry policy would.
 *
 * The schema it needs is APP_SCHEMA (one customer row per connection, owned by it).
 */
export const APP_SCHEMA = `
create schema app;
create table app.customers (id bigserial primary key, name text not null, balance bigint not null default 0,
                            updated_at timestamptz);
create table app.orders (id bigserial primary key, customer_id bigint not null references app.customers (id),
                         token text not null unique, amount numeric(10,2) not null,
                         created_at timestamptz not null default now());
create index orders_customer_idx on app.orders (customer_id);
create function app.touch() returns trigger language plpgsql as $$ begin new.updated_at := now(); return new; end $$;
create trigger customers_touch before update on app.customers for each row execute procedure app.touch();
insert into app.customers (name) select 'customer ' || i from generate_series(1, 8) i;
insert into app.orders (customer_id, token, amount) select 1 + i % 8, 'seed-' || i, i from generate_series(1, 200) i;
create materialized view app.order_totals as select customer_id, count(*) as n from app.orders group by 1;`;

export type Db = "source" | "target";

export interface Ack {
  conn: number;
  db: Db;
  op: "insert" | "update";
  /** orders.id for an insert, customers.id for an update. */
  id: number;
  /** The order's token, or the customer's acknowledged balance. */
  value: string;
  at: number;
}

export interface Failure {
  conn: number;
  db: Db;
  kind: "write" | "read";
  code: string | undefined;
  message: string;
  /** When the error came back (ms since epoch, this machine's clock). */
  at: number;
}

export interface AppClientOptions {
  sourceUrl: string;
  targetUrl: string;
  /** Holds the URL to use; created with sourceUrl. */
  switchFile: string;
  connections?: number;
  pauseMs?: number;
}

function clientFor(url: string): pg.Client {
  const ssl = /sslmode=require/.test(url) ? { rejectUnauthorized: false } : false;
  const c = new pg.Client({ connectionString: url.replace(/\?.*$/, ""), ssl, application_name: "app" });
  c.on("error", () => {});
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class AppClient {
  readonly acks: Ack[] = [];
  readonly failures: Failure[] = [];
  reads = 0;
  private wanted: string;
  private readonly at: string[] = [];
  private stopping = false;
  private loops: Promise<void>[] = [];
  private watcher: NodeJS.Timeout | undefined;
  private seq = 0;

  private constructor(private readonly o: Required<AppClientOptions>) {
    this.wanted = o.sourceUrl;
  }

  static async start(opts: AppClientOptions): Promise<AppClient> {
    const app = new AppClient({ connections: 4, pauseMs: 5, ...opts });
    writeFileSync(opts.switchFile, opts.sourceUrl);
    app.watcher = setInterval(() => app.watch(), 10);
    for (let i = 0; i < app.o.connections; i++) {
      const c = clientFor(app.wanted);
      await c.connect();
      app.at[i] = app.wanted;
      app.loops.push(app.loop(i, c));
    }
    return app;
  }

  /** Which database a URL is. */
  private dbOf(url: string): Db {
    return url === this.o.sourceUrl ? "source" : "target";
  }

  /** Writes done so far on `db`. */
  count(db: Db): number {
    return this.acks.filter((a) => a.db === db).length;
  }

  private watch(): void {
    const url = readFileSync(this.o.switchFile, "utf8");
    if (url !== this.wanted) this.wanted = url;
    const ack = `${this.o.switchFile}.ack`;
    if (
      this.at.every((u) => u === this.wanted) &&
      (!existsSync(ack) || readFileSync(ack, "utf8") !== this.wanted)
    ) {
      writeFileSync(`${ack}.tmp`, this.wanted);
      renameSync(`${ack}.tmp`, ack);
    }
  }

  private async loop(conn: number, first: pg.Client): Promise<void> {
    let client = first;
    const customer = conn + 1;
    for (let n = 0; !this.stopping; n++) {
      if (this.at[conn] !== this.wanted) {
        await client.end().catch(() => {});
        client = clientFor(this.wanted);
        await client.connect();
        this.at[conn] = this.wanted;
      }
      const db = this.dbOf(this.at[conn]!);
      await this.write(conn, client, db, n % 3 === 2 ? "update" : "insert", customer);
      await this.read(conn, client, db, customer);
      await sleep(this.o.pauseMs);
    }
    await client.end().catch(() => {});
  }

  private async write(conn: number, c: pg.Client, db: Db, op: Ack["op"], customer: number): Promise<void> {
    try {
      if (op === "insert") {
        const token = `c${conn}-${++this.seq}-${Date.now()}`;
        const { rows } = await c.query<{ id: string }>(
          "insert into app.orders (customer_id, token, amount) values ($1, $2, $3) returning id",
          [customer, token, (this.seq % 1000) / 10],
        );
        this.acks.push({ conn, db, op, id: Number(rows[0]!.id), value: token, at: Date.now() });
      } else {
        const { rows } = await c.query<{ balance: string }>(
          "update app.customers set balance = balance + 1 where id = $1 returning balance",
          [customer],
        );
        this.acks.push({ conn, db, op, id: customer, value: rows[0]!.balance, at: Date.now() });
      }
    } catch (err) {
      const e = err as { code?: string; message?: string };
      this.failures.push({
        conn,
        db,
        kind: "write",
        code: e.code,
        message: e.message ?? String(err),
        at: Date.now(),
      });
      // A fenced write is retried by the next round, after a short pause.
      await sleep(10);
    }
  }

  private async read(conn: number, c: pg.Client, db: Db, customer: number): Promise<void> {
    try {
      await c.query("select count(*) from app.orders where customer_id = $1", [customer]);
      await c.query("select balance, updated_at from app.customers where id = $1", [customer]);
      this.reads++;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      this.failures.push({
        conn,
        db,
        kind: "read",
        code: e.code,
        message: e.message ?? String(err),
        at: Date.now(),
      });
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    clearInterval(this.watcher);
  }
}

/**
 * A switch command for pgferry: writes $PGFERRY_TARGET_URL (or another variable of its
 * environment) into the client's file (the URL is never on a command line or printed) and
 * waits until every connection has moved.
 */
export function switchCommandFor(
  switchFile: string,
  timeoutSeconds = 30,
  variable: "PGFERRY_TARGET_URL" | "PGFERRY_APP_URL" = "PGFERRY_TARGET_URL",
): string {
  const f = JSON.stringify(switchFile);
  return [
    `printf '%s' "$${variable}" > ${f}.tmp && mv ${f}.tmp ${f}`,
    `i=0; while [ "$(cat ${f}.ack 2>/dev/null)" != "$${variable}" ]; do`,
    `  i=$((i+1)); if [ $i -gt ${timeoutSeconds * 100} ]; then echo "client did not move" >&2; exit 1; fi; sleep 0.01;`,
    "done",
    'echo "application moved to $PGFERRY_TARGET_DISPLAY"',
  ].join("\n");
}
