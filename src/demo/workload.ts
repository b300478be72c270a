import pg from "pg";
import { parseConnUrl, SQLSTATE, sleep, sqlState, tlsOptions } from "../db/index.js";
import type { DatabaseUrlFile } from "./app-config.js";
import { type Ledger, type LedgerTable, readStates } from "./ledger.js";
import { prng } from "./prng.js";
import type { DemoSize } from "./sizes.js";

export interface AppStats {
  /** Acknowledged (committed) writes, by the database they went to. */
  writes: { source: number; target: number };
  reads: { ok: number; failed: number };
  /** Write attempts refused by the cutover fence; each was retried until it succeeded. */
  refused: number;
  /** Other failed attempts (not counted as writes), with the first message. */
  errors: number;
  firstError: string | null;
  /** The app's own measure: first refused write to the last retry that succeeded, ms. */
  unavailableMs: number | null;
  /** When the app saw its first write on the target (ms since epoch). */
  switchedAt: number | null;
}

type Op = (c: pg.Client) => Promise<void>;

const FENCED = SQLSTATE.readOnlySqlTransaction;

/**
 * A stand-in for the application: a few connections placing orders, updating customers,
 * logging and deleting events, reading; each committed write goes into the ledger with the row
 * state it left. It reads its database URL from a file; when the switch command replaces the
 * file, every connection moves to the new database at its next attempt.
 */
export class ShopApp {
  private readonly workers: Worker[] = [];
  private running: Promise<void>[] = [];
  readonly stats: AppStats = {
    writes: { source: 0, target: 0 },
    reads: { ok: 0, failed: 0 },
    refused: 0,
    errors: 0,
    firstError: null,
    unavailableMs: null,
    switchedAt: null,
  };
  private outages: [number, number][] = [];
  private readonly initialUrl: string;
  stopping = false;

  constructor(
    readonly config: DatabaseUrlFile,
    readonly size: DemoSize,
    readonly ledger: Ledger,
  ) {
    this.initialUrl = config.current().url;
    for (let i = 0; i < size.writers; i++) this.workers.push(new Worker(this, i));
  }

  start(): void {
    this.running = this.workers.map((w) => w.run());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  /** True while the app runs against the database it started on. */
  isOrigin(url: string): boolean {
    return url === this.initialUrl;
  }

  noteOutage(from: number, to: number): void {
    this.outages.push([from, to]);
    const start = Math.min(...this.outages.map((o) => o[0]));
    const end = Math.max(...this.outages.map((o) => o[1]));
    this.stats.unavailableMs = end - start;
  }

  noteError(err: unknown): void {
    if (this.stopping) return;
    this.stats.errors++;
    this.stats.firstError ??= (err as Error).message;
  }
}

class Worker {
  private client: pg.Client | undefined;
  private version = -1;
  private onOrigin = true;
  private readonly rand: () => number;
  private readonly myOrders: string[] = [];
  private refusedSince: number | null = null;

  constructor(
    private readonly app: ShopApp,
    private readonly index: number,
  ) {
    this.rand = prng(0x5eed + index);
  }

  async run(): Promise<void> {
    while (!this.app.stopping) {
      await this.attempt(this.pick());
      await sleep(this.app.size.pauseMs);
    }
    await this.client?.end().catch(() => {});
  }

  /** Runs one operation, retrying it while the fence refuses it (a real app's retry loop). */
  private async attempt(op: Op): Promise<void> {
    while (!this.app.stopping) {
      let c: pg.Client | undefined;
      try {
        c = await this.connection();
        await op(c);
        if (this.refusedSince !== null) {
          this.app.noteOutage(this.refusedSince, Date.now());
          this.refusedSince = null;
        }
        return;
      } catch (err) {
        await c?.query("rollback").catch(() => {});
        if (sqlState(err) === FENCED) {
          this.app.stats.refused++;
          this.refusedSince ??= Date.now();
          await sleep(20);
          continue;
        }
        this.app.noteError(err);
        await this.client?.end().catch(() => {});
        this.client = undefined;
        return;
      }
    }
  }

  private async connection(): Promise<pg.Client> {
    const { url, version } = this.app.config.current();
    if (this.client && version === this.version) return this.client;
    await this.client?.end().catch(() => {});
    this.client = undefined;
    const info = parseConnUrl(url, "local");
    const client = new pg.Client({
      host: info.host,
      port: info.port,
      user: info.user,
      password: info.password,
      database: info.database,
      ssl: tlsOptions(info),
      application_name: `shop-app-${this.index}`,
      options: "-c TimeZone=UTC -c statement_timeout=30000",
    });
    client.on("error", () => {});
    await client.connect();
    this.client = client;
    this.version = version;
    this.onOrigin = this.app.isOrigin(url);
    return client;
  }

  private pick(): Op {
    const r = this.rand();
    if (r < 0.3) return (c) => this.placeOrder(c);
    if (r < 0.45) return (c) => this.advanceOrder(c);
    if (r < 0.65) return (c) => this.updateCustomer(c);
    if (r < 0.74) return (c) => this.logEvent(c);
    if (r < 0.8) return (c) => this.wish(c);
    if (r < 0.88) return (c) => this.deleteEvent(c);
    if (r < 0.92) return (c) => this.deleteOrder(c);
    return (c) => this.read(c);
  }

  private int(n: number): number {
    return 1 + Math.floor(this.rand() * n);
  }

  /** A loaded id this worker owns ((id - 1) mod writers = its index), so no two connections race on a key. */
  private owned(n: number): number {
    const w = this.app.size.writers;
    return 1 + this.index + w * Math.floor(this.rand() * Math.floor((n - 1 - this.index) / w + 1));
  }

  /** Commits, then records the write: only acknowledged writes enter the ledger. */
  private async commit(c: pg.Client, table: LedgerTable, id: string, kind: "insert" | "update" | "delete") {
    const [state] = await readStates(c, table, [id]);
    await c.query("commit");
    this.app.ledger.record(table, id, kind, state ? state[1] : null);
    this.app.stats.writes[this.onOrigin ? "source" : "target"]++;
    if (!this.onOrigin) this.app.stats.switchedAt ??= Date.now();
  }

  private async placeOrder(c: pg.Client): Promise<void> {
    const items = 1 + Math.floor(this.rand() * 4);
    const products = [...new Set(Array.from({ length: items }, () => this.int(this.app.size.products)))];
    const quantities = products.map(() => this.int(3));
    await c.query("begin");
    const { rows } = await c.query<{ id: string; created_at: string }>(
      `insert into orders (customer_id, shipping) values ($1, $2) returning id::text, created_at::text`,
      [
        this.int(this.app.size.customers),
        { method: this.rand() < 0.3 ? "express" : "standard", gift: this.rand() < 0.1 },
      ],
    );
    const order = rows[0]!;
    await c.query(
      `insert into order_items (order_id, order_created_at, product_id, quantity, unit_price)
       select $1, $2::timestamptz, p.id, x.q, p.price from unnest($3::int[], $4::int[]) x (pid, q) join products p on p.id = x.pid`,
      [order.id, order.created_at, products, quantities],
    );
    await c.query(
      `update orders set total = (select sum(line_total) from order_items where order_id = $1 and order_created_at = $2::timestamptz)
        where id = $1 and created_at = $2::timestamptz`,
      [order.id, order.created_at],
    );
    await this.commit(c, "orders", order.id, "insert");
    this.myOrders.push(order.id);
  }

  private async advanceOrder(c: pg.Client): Promise<void> {
    const mine = this.myOrders.length > 0 && this.rand() < 0.7;
    const id = mine
      ? this.myOrders[Math.floor(this.rand() * this.myOrders.length)]!
      : String(this.owned(this.app.size.orders));
    await c.query("begin");
    const r = await c.query(
      `update orders set status = case status when 'pending' then 'paid' when 'paid' then 'shipped' else 'delivered' end::order_status
        where id = $1 and status in ('pending', 'paid', 'shipped')`,
      [id],
    );
    if (r.rowCount === 0) return void (await c.query("rollback"));
    await this.commit(c, "orders", id, "update");
  }

  private async deleteOrder(c: pg.Client): Promise<void> {
    const id = this.myOrders.shift();
    if (id === undefined) return;
    await c.query("begin");
    await c.query("delete from orders where id = $1", [id]);
    await this.commit(c, "orders", id, "delete");
  }

  private async updateCustomer(c: pg.Client): Promise<void> {
    const id = String(this.owned(this.app.size.customers));
    await c.query("begin");
    await c.query(
      `update customers set preferences = preferences || $2::jsonb, version = version + 1 where id = $1`,
      [id, { theme: this.rand() < 0.5 ? "dark" : "light", lastSeen: new Date().toISOString() }],
    );
    await this.commit(c, "customers", id, "update");
  }

  private async logEvent(c: pg.Client): Promise<void> {
    await c.query("begin");
    const { rows } = await c.query<{ id: string }>(
      `insert into events (customer_id, kind, payload) values ($1, $2, $3) returning id::text`,
      [
        this.int(this.app.size.customers),
        "page_view",
        { path: `/products/${this.int(this.app.size.products)}` },
      ],
    );
    await this.commit(c, "events", rows[0]!.id, "insert");
  }

  private async deleteEvent(c: pg.Client): Promise<void> {
    const id = String(this.owned(this.app.size.events));
    await c.query("begin");
    const r = await c.query("delete from events where id = $1", [id]);
    if (r.rowCount === 0) return void (await c.query("rollback"));
    await this.commit(c, "events", id, "delete");
  }

  /**
   * A customer's wishlist, a table without a key: wish for one of five products (often one
   * already wished for the same day: an identical row), or drop one copy of a wish.
   */
  private async wish(c: pg.Client): Promise<void> {
    const customer = String(this.owned(this.app.size.customers));
    const product = this.int(5);
    await c.query("begin");
    if (this.rand() < 0.6) {
      await c.query(
        "insert into wishlist_items (customer_id, product_id, added_on) values ($1, $2, date '2024-06-01')",
        [customer, product],
      );
      return this.commit(c, "wishlists", customer, "insert");
    }
    const r = await c.query(
      `delete from wishlist_items where ctid = (select ctid from wishlist_items
         where customer_id = $1 and product_id = $2 and added_on = date '2024-06-01' limit 1)`,
      [customer, product],
    );
    if (r.rowCount === 0) return void (await c.query("rollback"));
    await this.commit(c, "wishlists", customer, "delete");
  }

  private async read(c: pg.Client): Promise<void> {
    try {
      await c.query("select id, status, email, total from open_orders where id > $1 limit 10", [
        this.int(this.app.size.orders),
      ]);
      this.app.stats.reads.ok++;
    } catch (err) {
      this.app.stats.reads.failed++;
      throw err;
    }
  }
}
