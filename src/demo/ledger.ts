import type pg from "pg";

/** The state of one row as the app last saw it after an acknowledged write (null: deleted). */
export type RowState = string | null;
/** "wishlists": a customer's rows of wishlist_items (a table without a key), by customer id. */
export type LedgerTable = "orders" | "customers" | "events" | "wishlists";
export type WriteKind = "insert" | "update" | "delete";

interface KeyHistory {
  /** The row's state after each acknowledged write to it, in commit order. */
  states: RowState[];
}

export interface LedgerCheck {
  /** Acknowledged writes checked on the target. */
  checked: number;
  /** Acknowledged writes whose effect the target does not show. */
  lost: number;
  /** Rows (keys) written, and those whose final state differs, with a few examples. */
  keys: number;
  mismatches: { table: LedgerTable; id: string; expected: RowState; found: RowState }[];
}

/**
 * Every write the app-like client had acknowledged (committed), with the row state it left.
 * Each key is written by one connection only, so the order of its writes is commit order; a
 * write is lost if the target shows neither its state nor that of a later write to the key.
 */
export class Ledger {
  private readonly rows = new Map<LedgerTable, Map<string, KeyHistory>>([
    ["orders", new Map()],
    ["customers", new Map()],
    ["events", new Map()],
    ["wishlists", new Map()],
  ]);
  readonly counts = { insert: 0, update: 0, delete: 0 };

  record(table: LedgerTable, id: string, kind: WriteKind, state: RowState): void {
    const keys = this.rows.get(table)!;
    const h = keys.get(id) ?? { states: [] };
    keys.set(id, h);
    h.states.push(state);
    this.counts[kind]++;
  }

  get writes(): number {
    return this.counts.insert + this.counts.update + this.counts.delete;
  }

  /** Reads every written key from the target and counts the acknowledged writes it lacks. */
  async check(target: pg.ClientBase): Promise<LedgerCheck> {
    const result: LedgerCheck = { checked: 0, lost: 0, keys: 0, mismatches: [] };
    for (const [table, keys] of this.rows) {
      const ids = [...keys.keys()];
      const found = new Map<string, string>();
      for (let i = 0; i < ids.length; i += 5000) {
        for (const [id, state] of await readStates(target, table, ids.slice(i, i + 5000)))
          found.set(id, state);
      }
      for (const [id, h] of keys) {
        const actual = found.get(id) ?? null;
        const lost = lostWrites(h.states, actual);
        result.keys++;
        result.checked += h.states.length;
        result.lost += lost;
        if (lost > 0 && result.mismatches.length < 5)
          result.mismatches.push({ table, id, expected: h.states.at(-1) ?? null, found: actual });
      }
    }
    return result;
  }
}

/** Writes after the last one whose state the target shows (all of them if it shows none). */
export function lostWrites(states: readonly RowState[], actual: RowState): number {
  const last = states.lastIndexOf(actual);
  return last === -1 ? states.length : states.length - 1 - last;
}

// One text per row covering every column the app writes (an order's items included). The app
// runs the same query inside its write transaction and the check runs it on the target, with
// the same session settings, so a plain string comparison checks the whole row. Items left
// behind by a deleted order show up as a state where none is expected.
export const STATE_SQL: Record<LedgerTable, string> = {
  orders: `select x.id::text, case when o.id is not null or i.n > 0 then
                  concat_ws('|', o.customer_id, o.status, o.total, o.created_at, o.shipping, i.n, i.total) end as state
             from unnest($1::bigint[]) x (id)
             left join orders o on o.id = x.id
             cross join lateral (select count(*) as n, coalesce(sum(line_total), 0) as total
                                   from order_items where order_id = x.id) i`,
  customers: `select id::text, concat_ws('|', version, preferences) as state
                from customers where id = any($1::bigint[])`,
  events: `select id::text, concat_ws('|', customer_id, kind, payload, at) as state
             from events where id = any($1::bigint[])`,
  // Every row of the customer, duplicates included (a missing copy of a repeated row shows).
  wishlists: `select customer_id::text as id,
                     string_agg(product_id || '@' || added_on, ',' order by product_id, added_on) as state
                from wishlist_items where customer_id = any($1::bigint[]) group by customer_id`,
};

/** The current state of the given keys (keys without a row are left out). */
export async function readStates(
  client: pg.ClientBase,
  table: LedgerTable,
  ids: readonly string[],
): Promise<[string, string][]> {
  const { rows } = await client.query<{ id: string; state: string | null }>(STATE_SQL[table], [ids]);
  return rows.filter((r) => r.state !== null).map((r) => [r.id, r.state!]);
}
