import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import type { DemoSize } from "./sizes.js";

const SQL_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "sql");
const SCHEMA_SQL = readFileSync(path.join(SQL_DIR, "shop-schema.sql"), "utf8");
const CONSTRAINTS_SQL = readFileSync(path.join(SQL_DIR, "shop-constraints.sql"), "utf8");

/** The tables of the sample shop, in the order they are loaded. */
export const SHOP_TABLES = [
  "customers",
  "products",
  "orders",
  "order_items",
  "events",
  "wishlist_items",
] as const;

// One partition per month over the last year and the next two months, plus a default one,
// so both the loaded history and the app's new orders land in real partitions.
const PARTITIONS_SQL = `
do $$
declare m timestamptz;
begin
  for m in select generate_series(date_trunc('month', now() - interval '12 months'),
                                  date_trunc('month', now() + interval '2 months'), interval '1 month') loop
    execute format('create table %I partition of orders for values from (%L) to (%L)',
                   'orders_' || to_char(m, 'YYYY_MM'), m, m + interval '1 month');
  end loop;
  create table orders_default partition of orders default;
end $$`;

// Prices, item counts, quantities and products are pure functions of the ids, so an order's
// total is computed without reading its items back (no second pass over the orders).
const PRICE = (p: string) => `round((2 + (${p} * 37 % 19800) / 100.0)::numeric, 2)`;
const ITEM_PRODUCT = (o: string, k: string) => `(1 + ((${o}) * 31 + (${k}) * 17) % $2::int)`;
const ITEM_QTY = (o: string, k: string) => `(1 + ((${o}) + (${k})) % 3)`;

const LOAD_STEPS: { table: (typeof SHOP_TABLES)[number]; sql: string; params: (s: DemoSize) => number[] }[] =
  [
    {
      table: "customers",
      params: (s) => [s.customers],
      sql: `insert into customers (id, email, name, country, preferences, created_at)
      select g, format('customer%s@example.com', g), format('Customer %s', g),
             (array['US','GB','DE','FR','NL','SE','JP','BR','CA','AU'])[1 + g % 10],
             jsonb_build_object('newsletter', g % 3 = 0, 'currency', (array['USD','EUR','GBP'])[1 + g % 3],
                                'theme', case when g % 2 = 0 then 'dark' else 'light' end),
             now() - make_interval(days => g % 700)
        from generate_series(1, $1::int) g`,
    },
    {
      table: "products",
      params: (s) => [s.products],
      sql: `insert into products (id, public_id, sku, name, price, attributes, tags, stock)
      select g, md5('product' || g)::uuid, format('SKU-%s', lpad(g::text, 6, '0')),
             (array['Red','Blue','Green','Black','White'])[1 + g % 5] || ' ' ||
               (array['Mug','Shirt','Lamp','Chair','Book','Bag','Pen'])[1 + g % 7],
             ${PRICE("g")},
             jsonb_build_object('weight_g', 50 + g % 2000, 'origin', (array['PT','VN','MX','PL'])[1 + g % 4],
                                'size', jsonb_build_object('w', 5 + g % 50, 'h', 5 + g % 30)),
             array[(array['new','sale','eco','gift','bestseller'])[1 + g % 5], (array['home','office','outdoor'])[1 + g % 3]],
             g % 500
        from generate_series(1, $1::int) g`,
    },
    {
      table: "orders",
      params: (s) => [s.orders, s.products, s.customers],
      sql: `insert into orders (id, customer_id, status, total, shipping, created_at)
      select g, 1 + (g::bigint * 7919) % $3::int,
             (array['delivered','delivered','delivered','shipped','paid','pending','cancelled'])[1 + g % 7]::order_status,
             (select sum(${ITEM_QTY("g", "k")} * ${PRICE(ITEM_PRODUCT("g", "k"))})
                from generate_series(1, 1 + g % 4) k),
             case when g % 5 <> 0 then jsonb_build_object('method', (array['standard','express'])[1 + g % 2],
                                                          'city', (array['Lisbon','Hanoi','Austin','Oslo'])[1 + g % 4]) end,
             now() - make_interval(secs => (g::bigint * 104729) % (360 * 86400))
        from generate_series(1, $1::int) g`,
    },
    {
      table: "order_items",
      params: (s) => [s.orders, s.products],
      sql: `insert into order_items (order_id, order_created_at, product_id, quantity, unit_price)
      select o.id, o.created_at, ${ITEM_PRODUCT("o.id", "k")}, ${ITEM_QTY("o.id", "k")}, ${PRICE(ITEM_PRODUCT("o.id", "k"))}
        from orders o cross join lateral generate_series(1, 1 + (o.id % 4)::int) k
       where o.id <= $1::bigint`,
    },
    {
      table: "events",
      params: (s) => [s.events, s.products, s.customers],
      sql: `insert into events (customer_id, kind, payload, at)
      select 1 + (g::bigint * 104723) % $3::int, (array['page_view','search','add_to_cart','checkout','login'])[1 + g % 5],
             jsonb_build_object('path', '/products/' || (1 + g % $2::int), 'session', md5(g::text), 'ms', g % 900,
                                'agent', (array['Mozilla/5.0 (Macintosh)','Mozilla/5.0 (iPhone)','Mozilla/5.0 (Windows NT 10.0)'])[1 + g % 3]),
             now() - make_interval(secs => g % (90 * 86400))
        from generate_series(1, $1::int) g`,
    },
    {
      table: "wishlist_items",
      // Two wishes per customer; every fourth customer wished for its first product twice.
      params: (s) => [s.customers, s.products],
      sql: `insert into wishlist_items (customer_id, product_id, added_on)
      select c, 1 + (c * 13 + k * 7) % $2::int, date '2024-01-01' + (c % 90)::int
        from generate_series(1, $1::int) c cross join generate_series(0, 1) k
      union all
      select c, 1 + (c * 13) % $2::int, date '2024-01-01' + (c % 90)::int
        from generate_series(4, $1::int, 4) c`,
    },
  ];

/** Creates the shop's schema; the caller is connected as the database's owner role. */
export async function createShopSchema(client: pg.ClientBase): Promise<void> {
  await client.query(SCHEMA_SQL);
  await client.query(PARTITIONS_SQL);
}

/** Loads the sample rows, table by table; reports each table as it finishes. Returns the row count. */
export async function loadShopData(
  client: pg.ClientBase,
  size: DemoSize,
  onTable: (table: string, rows: number, ms: number) => void = () => {},
): Promise<number> {
  let total = 0;
  for (const step of LOAD_STEPS) {
    const t0 = Date.now();
    const r = await client.query(step.sql, step.params(size));
    total += r.rowCount ?? 0;
    onTable(step.table, r.rowCount ?? 0, Date.now() - t0);
  }
  // The app's own inserts must not collide with the loaded ids.
  await client.query(
    `select setval('customers_id_seq', $1), setval('products_id_seq', $2), setval('orders_id_seq', $3)`,
    [size.customers, size.products, size.orders],
  );
  await client.query(CONSTRAINTS_SQL);
  await client.query("refresh materialized view daily_revenue");
  // Fresh statistics: pgferry sizes its copy from them, as it would on a long-lived database.
  await client.query(`vacuum analyze ${SHOP_TABLES.join(", ")}`);
  return total;
}
