// Contract stub: replaced by the schema stage (issue 3).
import type pg from "pg";
import type { ConnInfo } from "../db/index.js";
import { PgferryError } from "../errors/index.js";

export type PostDataKind =
  | "primary_key"
  | "unique"
  | "index"
  | "foreign_key"
  | "trigger"
  | "matview_refresh"
  | "other";

export interface PostDataItem {
  kind: PostDataKind;
  name: string;
  schema: string;
  /** The table it belongs to (null for objects not tied to one replicated table). */
  table: string | null;
  statement: string;
  /** 'index': built right after the table's copy; 'cutover': at cutover (FKs, triggers, matviews, …). */
  stage: "index" | "cutover";
}

export interface SchemaDump {
  extensions: { name: string; schema: string }[];
  preData: string;
  postData: PostDataItem[];
}

export interface DumpOptions {
  pgDump?: string;
  /** Tables left out of the migration (--exclude / not in --tables). */
  excludeTables: { schema: string; name: string }[];
  signal?: AbortSignal;
}

export async function dumpSchema(_source: ConnInfo, _opts: DumpOptions): Promise<SchemaDump> {
  throw new PgferryError("INTERNAL", "schema dump is not built yet");
}

/** Applies extensions then the pre-data DDL, inside the caller's open transaction. */
export async function applyPreData(_target: pg.ClientBase, _dump: SchemaDump): Promise<void> {
  throw new PgferryError("INTERNAL", "schema apply is not built yet");
}

/** Stores post-data items in pgferry.post_data, linked to pgferry.tables ids by "schema.name". */
export async function storePostData(
  _target: pg.ClientBase,
  _dump: SchemaDump,
  _tableIds: ReadonlyMap<string, number>,
): Promise<void> {
  throw new PgferryError("INTERNAL", "schema store is not built yet");
}
