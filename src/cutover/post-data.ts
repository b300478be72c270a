import type pg from "pg";
import { type DropOptions, lockBounded } from "../capture/index.js";
import { ident, qualified, SQLSTATE, sqlState } from "../db/index.js";
import {
  markPostDataDone,
  markPostDataUndone,
  markValidated,
  readPostData,
  validationPending,
} from "../state/index.js";

/** A post-data item of stage 'cutover' (state/post-data.ts). */
interface CutoverItem {
  id: number;
  kind: string;
  name: string;
  statement: string;
  dumpType: string | null;
  relation: { schema: string; name: string } | null;
  done: boolean;
  validateAfterSwitch: boolean;
}

async function loadItems(target: pg.ClientBase): Promise<CutoverItem[]> {
  const rows = await readPostData(target, { stage: "cutover" });
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    name: r.name,
    statement: r.statement,
    dumpType: r.dumpType,
    relation: r.relationSchema && r.relationName ? { schema: r.relationSchema, name: r.relationName } : null,
    done: r.done,
    validateAfterSwitch: r.validateAfterSwitch,
  }));
}

/** What the cutover would still build and refresh (a dry run's plan): nothing is changed. */
export async function cutoverObjectsPlan(
  target: pg.ClientBase,
): Promise<{ objects: number; matviews: number; kinds: Record<string, number> }> {
  const plan = { objects: 0, matviews: 0, kinds: {} as Record<string, number> };
  for (const item of await loadItems(target)) {
    if (item.done) continue;
    if (item.kind === "matview_refresh") plan.matviews++;
    else {
      plan.objects++;
      plan.kinds[item.kind] = (plan.kinds[item.kind] ?? 0) + 1;
    }
  }
  return plan;
}

/** The foreign key added NOT VALID (checked for new rows only; validated after the switch). */
function notValid(statement: string): string | null {
  if (/\bnot\s+valid\b/i.test(statement)) return null;
  const trimmed = statement.trimEnd().replace(/;$/, "");
  return `${trimmed} NOT VALID;`;
}

function lockTarget(item: CutoverItem): { schema: string; name: string } {
  return item.relation ?? { schema: "pgferry", name: "post_data" };
}

/** The foreign key just added references a partitioned table: PostgreSQL cloned it per partition. */
async function referencesPartitioned(target: pg.ClientBase, item: CutoverItem): Promise<boolean> {
  if (!item.relation) return false;
  const { rows } = await target.query<{ cloned: boolean }>(
    `select exists (select 1 from pg_catalog.pg_constraint c
                     where c.conparentid = (select oid from pg_catalog.pg_constraint
                                             where conrelid = $1::regclass and conname = $2)) as cloned`,
    [qualified(item.relation.schema, item.relation.name), item.name],
  );
  return rows[0]?.cloned === true;
}

/**
 * Runs one item and marks it done in the same transaction, so a retry skips what was built.
 * A foreign key goes in NOT VALID (instant: existing rows are not scanned inside the fence
 * window) except on a partitioned table, where PostgreSQL does not allow that, and except
 * when it references a partitioned table, where its VALIDATE is broken.
 */
async function buildItem(target: pg.ClientBase, item: CutoverItem, opts: DropOptions): Promise<void> {
  await lockBounded(target, "target", lockTarget(item), opts, async () => {
    const fast = item.kind === "foreign_key" ? notValid(item.statement) : null;
    if (fast) {
      await target.query("savepoint fk");
      try {
        await target.query(fast);
        if (await referencesPartitioned(target, item)) {
          // VALIDATE of such a key checks every row against each referenced partition in
          // turn and fails on valid data (PostgreSQL 12–17), and leaves the per-partition
          // clones marked NOT VALID (issue 12): it is added validated instead.
          await target.query("rollback to savepoint fk");
        } else {
          await markPostDataDone(target, item.id, true);
          return;
        }
      } catch (err) {
        // 42809: NOT VALID foreign keys on partitioned tables are refused; add it validated.
        if (sqlState(err) !== SQLSTATE.wrongObjectType) throw err;
        await target.query("rollback to savepoint fk");
      }
    }
    await target.query(item.statement);
    await markPostDataDone(target, item.id, false);
  });
}

/**
 * Builds the cutover-stage post-data (foreign keys, user triggers, rules, policies, checks,
 * comments, indexes of materialized views) in dump order; materialized views are refreshed
 * separately. Returns how many were built now.
 */
export async function buildCutoverObjects(target: pg.ClientBase, opts: DropOptions): Promise<number> {
  let built = 0;
  for (const item of await loadItems(target)) {
    if (item.done || item.kind === "matview_refresh") continue;
    opts.signal?.throwIfAborted();
    await buildItem(target, item, opts);
    built++;
  }
  return built;
}

/** How to take an item back when the cutover is undone, or null when it may stay. */
function dropSql(item: CutoverItem): string | null {
  if (!item.relation) return null;
  const rel = qualified(item.relation.schema, item.relation.name);
  const name = ident(item.name);
  if (item.kind === "foreign_key" || item.dumpType === "CHECK CONSTRAINT") {
    return `alter table ${rel} drop constraint if exists ${name}`;
  }
  if (item.kind === "trigger") return `drop trigger if exists ${name} on ${rel}`;
  if (item.dumpType === "RULE") return `drop rule if exists ${name} on ${rel}`;
  if (item.dumpType === "POLICY") return `drop policy if exists ${name} on ${rel}`;
  if (item.dumpType === "ROW SECURITY")
    return `alter table ${rel} no force row level security, disable row level security`;
  return null;
}

/**
 * Undoes the objects that would get in the way of streaming again (foreign keys and checks
 * reject rows replayed out of order, triggers and rules fire on replayed writes), newest
 * first; comments and indexes of materialized views stay (they are built only once).
 * Refreshed materialized views are marked to be refreshed again.
 */
export async function undoCutoverObjects(target: pg.ClientBase, opts: DropOptions): Promise<void> {
  const items = (await loadItems(target)).filter((i) => i.done).reverse();
  for (const item of items) {
    if (item.kind === "matview_refresh") {
      await markPostDataUndone(target, item.id, false);
      continue;
    }
    const sql = dropSql(item);
    if (!sql) continue;
    await lockBounded(target, "target", lockTarget(item), opts, async () => {
      await target.query(sql);
      await markPostDataUndone(target, item.id, true);
    });
  }
}

/** REFRESH MATERIALIZED VIEW for each populated matview, each marked done with its refresh. */
export async function refreshMatviews(target: pg.ClientBase, opts: DropOptions): Promise<number> {
  let refreshed = 0;
  for (const item of await loadItems(target)) {
    if (item.done || item.kind !== "matview_refresh") continue;
    opts.signal?.throwIfAborted();
    await lockBounded(target, "target", lockTarget(item), opts, async () => {
      await target.query(item.statement);
      await markPostDataDone(target, item.id, false);
    });
    refreshed++;
  }
  return refreshed;
}

/**
 * Validates the foreign keys added NOT VALID, after the switch: VALIDATE takes only a SHARE
 * UPDATE EXCLUSIVE lock, so the application keeps writing meanwhile. Returns the ones that
 * could not be validated (they stay NOT VALID and still check every new row).
 */
export async function validateForeignKeys(
  target: pg.ClientBase,
  opts: DropOptions,
): Promise<{ validated: string[]; failed: { name: string; error: string }[] }> {
  const out = { validated: [] as string[], failed: [] as { name: string; error: string }[] };
  for (const item of await loadItems(target)) {
    if (!item.validateAfterSwitch || !item.relation) continue;
    if (!(await validationPending(target, item.id))) continue;
    const label = `${item.relation.schema}.${item.relation.name}.${item.name}`;
    try {
      await lockBounded(target, "target", item.relation, opts, async () => {
        const rel = qualified(item.relation!.schema, item.relation!.name);
        await target.query(`alter table ${rel} validate constraint ${ident(item.name)}`);
        await markValidated(target, item.id);
      });
      out.validated.push(label);
    } catch (err) {
      out.failed.push({ name: label, error: (err as Error)?.message ?? String(err) });
    }
  }
  return out;
}
