import type pg from "pg";

async function oids(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ oid: string }>(
    "select oid::int8::text as oid from pg_largeobject_metadata order by oid",
  );
  return rows.map((r) => r.oid);
}

async function digests(client: pg.ClientBase, list: string[]): Promise<Map<string, string>> {
  if (list.length === 0) return new Map();
  const { rows } = await client.query<{ oid: string; h: string }>(
    "select o::text as oid, md5(lo_get(o::oid)) as h from unnest($1::int8[]) as o",
    [list],
  );
  return new Map(rows.map((r) => [r.oid, r.h]));
}

async function copyOne(
  source: pg.ClientBase,
  target: pg.ClientBase,
  oid: string,
  replace: boolean,
): Promise<void> {
  const { rows } = await source.query<{ data: Buffer }>("select lo_get($1::int8::oid) as data", [oid]);
  await target.query("begin");
  try {
    if (replace) await target.query("select lo_unlink($1::int8::oid)", [oid]);
    await target.query("select lo_from_bytea($1::int8::oid, $2::bytea)", [oid, rows[0]!.data]);
    await target.query("commit");
  } catch (err) {
    await target.query("rollback").catch(() => {});
    throw err;
  }
}

/**
 * Makes the target's large objects equal to the source's, by oid (columns of type oid keep
 * pointing at the right object): copies the missing ones, replaces those whose content
 * differs, removes those the source no longer has. Capture triggers cannot see large objects,
 * so this runs once before the fence (the bulk) and once inside it (what changed since).
 * Owned by the target role, which must be the owner the application connects as.
 */
export async function syncLargeObjects(
  source: pg.ClientBase,
  target: pg.ClientBase,
): Promise<{ copied: number; removed: number }> {
  const [src, tgt] = await Promise.all([oids(source), oids(target)]);
  if (src.length === 0 && tgt.length === 0) return { copied: 0, removed: 0 };
  const onTarget = new Set(tgt);
  const both = src.filter((o) => onTarget.has(o));
  const [a, b] = await Promise.all([digests(source, both), digests(target, both)]);
  let copied = 0;
  for (const oid of src) {
    const present = onTarget.has(oid);
    if (present && a.get(oid) === b.get(oid)) continue;
    await copyOne(source, target, oid, present);
    copied++;
  }
  const onSource = new Set(src);
  const stale = tgt.filter((o) => !onSource.has(o));
  for (const oid of stale) await target.query("select lo_unlink($1::int8::oid)", [oid]);
  return { copied, removed: stale.length };
}
