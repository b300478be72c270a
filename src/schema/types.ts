export type PostDataKind =
  | "primary_key"
  | "unique"
  | "index"
  | "foreign_key"
  | "trigger"
  | "matview_refresh"
  | "other";

export interface RelationName {
  schema: string;
  name: string;
}

export interface PostDataItem {
  kind: PostDataKind;
  /** The object's own name: the index, constraint, trigger, policy, …; the matview for a refresh. */
  name: string;
  /** The object's schema. */
  schema: string;
  /**
   * The replicated table it belongs to: for an object on a partition, the partitioned root
   * (what the control schema's table rows hold). Null for objects not tied to one table (matview indexes, …).
   */
  table: string | null;
  /** The pg_dump SQL, as dumped (may hold more than one statement, e.g. a CLUSTER ON). */
  statement: string;
  /** 'index': built right after the table's copy; 'cutover': at cutover (FKs, triggers, matviews, …). */
  stage: "index" | "cutover";
  /** Schema of `table`. */
  tableSchema?: string | null;
  /** The relation the statement acts on: the table, a leaf partition, a materialized view. */
  relation?: RelationName | null;
  /** pg_dump's entry type: INDEX, CONSTRAINT, INDEX ATTACH, FK CONSTRAINT, TRIGGER, … */
  dumpType?: string;
  /**
   * Primary keys and unique constraints on plain tables: build the index first with this
   * CREATE UNIQUE INDEX (a SHARE lock, so other indexes build beside it), …
   */
  indexStatement?: string | null;
  /** … then attach it with this ALTER TABLE … ADD CONSTRAINT … USING INDEX (plus any follow-up, e.g. CLUSTER ON). */
  constraintStatement?: string | null;
}

/** An entry of the dump that pgferry leaves out on purpose, with the reason. */
export interface SkippedEntry {
  type: string;
  name: string;
  reason: string;
}

export interface SchemaDump {
  /** Extensions to create on the target before the pre-data, in dump order. */
  extensions: { name: string; schema: string }[];
  /** Pre-data DDL (types, functions, tables, sequences, views, …), extensions taken out. */
  preData: string;
  postData: PostDataItem[];
  /** Entries left out (event triggers, comments on extensions, FKs to excluded tables, …). */
  skipped?: SkippedEntry[];
  /** Things worth telling the operator (an entry pgferry could not read and stages at cutover). */
  warnings?: string[];
  /**
   * The source's function and procedure definitions by pg_dump's tag ("schema.name(types)"):
   * a function the target already has with the same definition is not created again.
   */
  functions?: Record<string, string>;
  /** The pg_dump that produced it. */
  pgDump?: { path: string; version: string };
}

export interface DumpOptions {
  pgDump?: string;
  /** Tables left out of the migration (--exclude / not in --tables). */
  excludeTables: { schema: string; name: string }[];
  /**
   * Only these tables (pg_dump --table: each one's own definition, the sequences it owns,
   * its indexes, constraints and triggers; nothing else): `pgferry tables add`.
   */
  includeTables?: { schema: string; name: string }[];
  signal?: AbortSignal;
  /** Keep ALTER … OWNER TO (default false: the source's roles rarely exist on the target). */
  keepOwners?: boolean;
  /** Keep GRANT/REVOKE (default false, same reason). */
  keepPrivileges?: boolean;
  /** pg_dump --lock-wait-timeout, ms (default 30 s): never queue behind a long lock on the live source. */
  lockWaitTimeoutMs?: number;
}

/** The key of a relation in the maps pgferry passes around: "schema.name", unquoted. */
export function relationKey(r: RelationName): string {
  return `${r.schema}.${r.name}`;
}
