import type pg from "pg";
import { connect, parseConnUrl, qualified } from "../src/db/index.js";
import type { LocalDatabase } from "../src/local-server/index.js";
import { parallel, pgEnv, run } from "./proc.js";

/** One generated table and what it weighs on the source. */
export interface DatasetTable {
  schema: string;
  name: string;
  rows: number;
  /** Heap + TOAST bytes (what a copy moves), without indexes. */
  bytes: number;
  indexBytes: number;
  /** Integer primary-key column, for range splits (undefined: copy whole). */
  intKey: string | undefined;
}

export interface Dataset {
  tables: DatasetTable[];
  rows: number;
  bytes: number;
  indexBytes: number;
  generateSeconds: number;
}

// Measured on PostgreSQL 15: heap bytes per pgbench scale unit and per generated row.
const PGBENCH_MB_PER_SCALE = 13.4;
const DOCUMENT_ROW_BYTES = 1160;
const EVENT_ROW_BYTES = 95;

export interface DatasetPlan {
  pgbenchScale: number;
  documents: number;
  events: number;
}

/** Splits the wanted size: 40% pgbench accounts, 35% wide documents, 25% heavily indexed events. */
export function planDataset(sizeMb: number): DatasetPlan {
  const bytes = sizeMb * 1024 * 1024;
  return {
    pgbenchScale: Math.max(1, Math.round((sizeMb * 0.4) / PGBENCH_MB_PER_SCALE)),
    documents: Math.max(1000, Math.round((bytes * 0.35) / DOCUMENT_ROW_BYTES)),
    events: Math.max(1000, Math.round((bytes * 0.25) / EVENT_ROW_BYTES)),
  };
}

const CREATE_SQL = `
create table public.documents (
  id bigint not null,
  title text not null,
  body text not null,
  attrs jsonb not null,
  payload bytea not null,
  created_at timestamptz not null
);
create table public.events (
  id bigint not null,
  account_id int not null,
  kind text not null,
  ref uuid not null,
  amount numeric(12,2) not null,
  happened_at timestamptz not null,
  note text
);`;

// Every value is a function of the row number: the same size gives the same bytes every run.
// One document in 50 has a body large enough to be TOASTed.
const DOCUMENTS_SQL = `
insert into public.documents
select i,
       'Document ' || i || ' ' || md5(i::text),
       case when i % 50 = 0 then repeat(md5(i::text || 'x') || ' ', 200)
            else repeat(md5(i::text || 'a') || ' ' || md5(i::text || 'b') || ' ', 8) end,
       jsonb_build_object('n', i, 'tag', 't' || (i % 97), 'score', (i % 1000) / 10.0,
                          'tags', jsonb_build_array(md5(i::text), i % 7, i % 11 = 0),
                          'owner', jsonb_build_object('id', i % 5003, 'name', 'user ' || (i % 5003))),
       decode(repeat(md5(i::text || 'c'), 16), 'hex'),
       timestamptz '2020-01-01 00:00:00+00' + i * interval '17 seconds'
  from generate_series($1::bigint, $2::bigint) i`;

const EVENTS_SQL = `
insert into public.events
select i,
       (hashint8(i) & 1048575)::int,
       (array['signup', 'login', 'purchase', 'refund', 'logout'])[1 + i % 5],
       md5('event' || i)::uuid,
       ((i * 7919) % 1000000) / 100.0,
       timestamptz '2021-01-01 00:00:00+00' + i * interval '3 seconds',
       case when i % 3 = 0 then null else 'note ' || (i % 100003) end
  from generate_series($1::bigint, $2::bigint) i`;

const INDEX_SQL = [
  "alter table public.documents add primary key (id)",
  "alter table public.events add primary key (id)",
  "create index events_account_idx on public.events (account_id)",
  "create index events_happened_idx on public.events (happened_at)",
  "create index events_kind_happened_idx on public.events (kind, happened_at)",
  "create unique index events_ref_key on public.events (ref)",
  "create index events_note_lower_idx on public.events (lower(note)) where note is not null",
  "create index documents_created_idx on public.documents (created_at)",
];

function ranges(total: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  const step = Math.ceil(total / parts);
  for (let lo = 1; lo <= total; lo += step) out.push([lo, Math.min(total, lo + step - 1)]);
  return out;
}

export function sourceClient(db: LocalDatabase, stage: "demo" = "demo"): Promise<pg.Client> {
  return connect(parseConnUrl(db.url, "source"), { stage });
}

/** Generates the dataset in the (empty) source database, two sessions at a time. */
export async function generateDataset(db: LocalDatabase, plan: DatasetPlan): Promise<Dataset> {
  const started = performance.now();
  const setup = await sourceClient(db);
  await setup.query(CREATE_SQL);
  await setup.end();
  const tasks: (() => Promise<unknown>)[] = [
    () => run("pgbench", ["-i", "-q", "-s", String(plan.pgbenchScale), "-I", "dtGp"], { env: pgEnv(db.url) }),
    ...ranges(plan.documents, 2).map((r) => () => insert(db, DOCUMENTS_SQL, r)),
    ...ranges(plan.events, 2).map((r) => () => insert(db, EVENTS_SQL, r)),
  ];
  await parallel(tasks, 2, async (t) => {
    await t();
  });
  // pgbench_history has no key; pgferry needs one (and the trigger benchmark adds the same).
  await parallel(
    ["alter table public.pgbench_history add column id bigserial primary key", ...INDEX_SQL],
    2,
    async (sql) => {
      const c = await sourceClient(db);
      await c.query(sql).finally(() => c.end());
    },
  );
  const c = await sourceClient(db);
  try {
    // Freeze now so no contender pays for setting hint bits on its first read.
    await c.query("vacuum (freeze, analyze)");
    const tables = await measureTables(c);
    return {
      tables,
      rows: tables.reduce((s, t) => s + t.rows, 0),
      bytes: tables.reduce((s, t) => s + t.bytes, 0),
      indexBytes: tables.reduce((s, t) => s + t.indexBytes, 0),
      generateSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    await c.end();
  }
}

async function insert(db: LocalDatabase, sql: string, [lo, hi]: [number, number]): Promise<void> {
  const c = await sourceClient(db);
  await c.query(sql, [lo, hi]).finally(() => c.end());
}

/** Exact rows and sizes of the user tables of the public schema. */
export async function measureTables(c: pg.ClientBase): Promise<DatasetTable[]> {
  const { rows } = await c.query<{
    name: string;
    bytes: string;
    index_bytes: string;
    int_key: string | null;
  }>(
    `select c.relname as name, pg_table_size(c.oid) as bytes, pg_indexes_size(c.oid) as index_bytes,
            (select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
              where i.indrelid = c.oid and i.indisprimary and i.indnatts = 1
                and a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)) as int_key
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'r'
      order by pg_table_size(c.oid) desc`,
  );
  const out: DatasetTable[] = [];
  for (const r of rows) {
    const count = await c.query<{ n: string }>(`select count(*) as n from ${qualified("public", r.name)}`);
    out.push({
      schema: "public",
      name: r.name,
      rows: Number(count.rows[0]!.n),
      bytes: Number(r.bytes),
      indexBytes: Number(r.index_bytes),
      intKey: r.int_key ?? undefined,
    });
  }
  return out;
}
