import type pg from "pg";
import { qualified } from "../db/index.js";
import { readPostData } from "../state/index.js";

/** One post-data item of stage 'index' (state/post-data.ts). */
export interface BuildItem {
  id: number;
  kind: string;
  name: string;
  statement: string;
  dumpType: string | null;
  relationSchema: string | null;
  relationName: string | null;
  indexStatement: string | null;
  constraintStatement: string | null;
}

/**
 * How an item is built:
 * - index: CREATE [UNIQUE] INDEX (plus the entry's follow-ups), and the done-mark;
 * - key-index: the index of a primary key / unique constraint, built ahead without its mark;
 * - key-attach: ADD CONSTRAINT … USING INDEX over that index, and the done-mark;
 * - statement: the entry as dumped, and the done-mark (partitioned parents, ATTACH PARTITION,
 *   exclusion constraints, statistics).
 */
export type BuildMode = "index" | "key-index" | "key-attach" | "statement";

export interface BuildStep {
  item: BuildItem;
  mode: BuildMode;
}

export interface BuildPlan {
  /** Index builds: SHARE locks only, so they may run side by side. */
  builds: BuildStep[];
  /** Catalog-only steps afterwards, one by one in dump order (ATTACH needs both indexes). */
  finish: BuildStep[];
}

export async function loadPendingItems(client: pg.ClientBase, tableId: number): Promise<BuildItem[]> {
  return readPostData(client, { stage: "index", tableId });
}

/** relkind on the target of every relation the items act on, by quoted name. */
export async function relationKinds(
  client: pg.ClientBase,
  items: readonly BuildItem[],
): Promise<Map<string, string>> {
  const names = [...new Set(items.filter(hasRelation).map(relationOf))];
  if (names.length === 0) return new Map();
  const { rows } = await client.query<{ name: string; relkind: string }>(
    `select u.name, c.relkind
       from unnest($1::text[]) as u(name) join pg_catalog.pg_class c on c.oid = to_regclass(u.name)`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, r.relkind]));
}

function hasRelation(item: BuildItem): boolean {
  return item.relationSchema !== null && item.relationName !== null;
}

/** The quoted schema.name of the relation an item acts on. */
export function relationOf(item: BuildItem): string {
  return qualified(item.relationSchema ?? "", item.relationName ?? "");
}

/**
 * Splits the pending items into index builds and finishing steps. Only plain tables take the
 * USING INDEX route: PostgreSQL refuses it on partitioned tables, where the dumped
 * `ALTER TABLE ONLY … ADD CONSTRAINT` creates just the parent's (empty) index anyway.
 */
export function planBuild(items: readonly BuildItem[], relkinds: ReadonlyMap<string, string>): BuildPlan {
  const plan: BuildPlan = { builds: [], finish: [] };
  for (const item of items) {
    const plainTable = hasRelation(item) && relkinds.get(relationOf(item)) === "r";
    const isKey = item.kind === "primary_key" || item.kind === "unique";
    if (plainTable && isKey && item.indexStatement && item.constraintStatement) {
      plan.builds.push({ item, mode: "key-index" });
      plan.finish.push({ item, mode: "key-attach" });
    } else if (plainTable && item.dumpType === "INDEX") {
      plan.builds.push({ item, mode: "index" });
    } else {
      plan.finish.push({ item, mode: "statement" });
    }
  }
  return plan;
}
