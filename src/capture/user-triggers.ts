import type pg from "pg";
import { ident, qualified, serverMajor } from "../db/index.js";
import type { Side } from "../errors/index.js";
import { markDdlSession } from "./ownership.js";
import { type DropOptions, lockBounded } from "./remove.js";

/** A user trigger pgferry disabled, and how it was enabled before ('O' origin, 'A' always). */
interface DisabledTrigger {
  schema: string;
  name: string;
  trigger: string;
  mode: "O" | "A";
}

const META_KEY = "disabled_user_triggers";

// The enabled user triggers of the given tables and their leaf partitions. Clones on
// partitions (tgparentid, 13+; internal before) follow their parent's ALTER.
const USER_TRIGGERS_SQL = `
with recursive rel (oid) as (
  select to_regclass(r)::oid from unnest($1::text[]) as r where to_regclass(r) is not null
  union all select i.inhrelid from rel join pg_inherits i on i.inhparent = rel.oid)
select n.nspname as schema, c.relname as name, t.tgname::text as trigger, t.tgenabled::text as mode
  from rel join pg_trigger t on t.tgrelid = rel.oid
  join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
 where not t.tgisinternal and t.tgenabled in ('O', 'A') and t.tgname not like 'pgferry\\_%' %PARENT%
 order by 1, 2, 3`;

async function readDisabled(client: pg.ClientBase): Promise<DisabledTrigger[]> {
  const { rows } = await client.query<{ value: string }>("select value from pgferry.meta where key = $1", [
    META_KEY,
  ]);
  return rows[0] ? (JSON.parse(rows[0].value) as DisabledTrigger[]) : [];
}

function byRelation(list: DisabledTrigger[]): Map<string, DisabledTrigger[]> {
  const out = new Map<string, DisabledTrigger[]>();
  for (const t of list) {
    const key = qualified(t.schema, t.name);
    out.set(key, [...(out.get(key) ?? []), t]);
  }
  return out;
}

/**
 * Disables the user triggers of the replicated tables on this side: while pgferry applies
 * the other side's rows here (the rollback window), those triggers already fired where the
 * rows were written and must not fire again. The list is kept in pgferry.meta so that
 * enableUserTriggers (rollback, cleanup) restores exactly what was there. Capture triggers
 * stay: they carry the fence.
 */
export async function disableUserTriggers(
  client: pg.ClientBase,
  tables: readonly { schema: string; name: string }[],
  opts: DropOptions,
): Promise<number> {
  const major = await serverMajor(client as pg.Client);
  const sql = USER_TRIGGERS_SQL.replace("%PARENT%", major >= 13 ? "and t.tgparentid = 0" : "");
  const { rows } = await client.query<DisabledTrigger>(sql, [tables.map((t) => qualified(t.schema, t.name))]);
  if (rows.length === 0) return 0;
  await markDdlSession(client);
  const all = [...(await readDisabled(client)), ...rows];
  await client.query(
    "insert into pgferry.meta (key, value) values ($1, $2) on conflict (key) do update set value = excluded.value",
    [META_KEY, JSON.stringify(all)],
  );
  for (const [rel, list] of byRelation(rows)) {
    await lockBounded(client, "source", list[0]!, opts, async () => {
      for (const t of list) await client.query(`alter table ${rel} disable trigger ${ident(t.trigger)}`);
    });
  }
  return rows.length;
}

/** Enables again the user triggers disableUserTriggers disabled (if any), in their old mode. */
export async function enableUserTriggers(
  client: pg.ClientBase,
  opts: DropOptions,
  side: Side = "source",
): Promise<number> {
  const { rows: has } = await client.query<{ ok: boolean }>(
    "select to_regclass('pgferry.meta') is not null as ok",
  );
  if (!has[0]?.ok) return 0;
  await markDdlSession(client);
  const list = await readDisabled(client);
  for (const [rel, triggers] of byRelation(list)) {
    await lockBounded(client, side, triggers[0]!, opts, async () => {
      for (const t of triggers) {
        const exists = await client.query(
          "select 1 from pg_trigger where tgrelid = to_regclass($1) and tgname = $2",
          [rel, t.trigger],
        );
        if (!exists.rowCount) continue;
        await client.query(
          `alter table ${rel} enable ${t.mode === "A" ? "always " : ""}trigger ${ident(t.trigger)}`,
        );
      }
    });
  }
  await client.query("delete from pgferry.meta where key = $1", [META_KEY]);
  return list.length;
}
