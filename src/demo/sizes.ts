/** How much sample data the demo loads, and how hard its app writes while the migration runs. */
export interface DemoSize {
  customers: number;
  products: number;
  orders: number;
  events: number;
  /** Connections of the app-like client. */
  writers: number;
  /** Pause between two writes of one connection, ms: about writers × 1000 / pauseMs writes a second. */
  pauseMs: number;
}

export const DEMO_SIZES = {
  // ≈ 50k rows: for tests.
  small: { customers: 2_000, products: 300, orders: 8_000, events: 16_000, writers: 3, pauseMs: 15 },
  // ≈ 400k rows: the default, a couple of minutes end to end on a laptop.
  medium: { customers: 20_000, products: 2_000, orders: 80_000, events: 100_000, writers: 3, pauseMs: 15 },
  // ≈ 4M rows.
  large: {
    customers: 200_000,
    products: 10_000,
    orders: 800_000,
    events: 1_000_000,
    writers: 4,
    pauseMs: 10,
  },
} as const satisfies Record<string, DemoSize>;

export type DemoSizeName = keyof typeof DEMO_SIZES;

export function isDemoSize(name: string): name is DemoSizeName {
  return Object.hasOwn(DEMO_SIZES, name);
}

/** Order items average 2.5 per order (1 to 4); wishlist items 2.25 per customer. */
export function expectedRows(size: DemoSize): number {
  return size.customers * 3.25 + size.products + size.orders + size.orders * 2.5 + size.events;
}
