import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { installCaptureSchema, installTableCapture, rowImageOf } from "../../src/capture/index.js";
import {
  copyColumns,
  identityOf,
  listTables,
  type SourceTable,
  tableShape,
} from "../../src/catalog/index.js";
import { connect, identList, parseConnUrl, qualified, serverMajor } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { ensureControlSchema } from "../../src/state/index.js";
import { TEST_OWNER } from "./capture.js";

/**
 * Stands in for prepare/copy/index in stream tests: the target holds the same tables (created
 * by the caller, keys included), the source has capture installed, S0 is recorded, and every
 * table of `schemas` is registered in pgferry.tables at S0 in phase 'copying'. copyTable()
 * then copies one table (in short transactions, no long snapshot, like the copy stage) and
 * marks it 'indexed'.
 */
export interface StreamSetup {
  s0: string;
  tables: SourceTable[];
  copyTable(name: string): Promise<void>;
  copyAll(): Promise<void>;
}

export function open(db: LocalDatabase, side: "source" | "target"): Promise<pg.Client> {
  return connect(parseConnUrl(db.url, side), { stage: "prepare" });
}

export async function setupStream(
  source: LocalDatabase,
  target: LocalDatabase,
  schemas: string[],
): Promise<StreamSetup> {
  const src = await open(source, "source");
  const tgt = await open(target, "target");
  try {
    await ensureControlSchema(tgt);
    await tgt.query(
      `insert into pgferry.migration (source_display, source_identity, phase, token) values ($1, 'test', 'copying', $2)`,
      [source.database, TEST_OWNER.token],
    );
    const tables = (await listTables(src, await serverMajor(src))).filter((t) => schemas.includes(t.schema));
    await installCaptureSchema(src, TEST_OWNER);
    for (const [i, t] of tables.entries()) {
      const columns = t.columns.map((c) => ({
        name: c.name,
        type: c.type,
        generated: c.generated,
        identity: c.identity,
      }));
      await tgt.query(
        `insert into pgferry.tables (id, schema_name, table_name, kind, key_columns, identity, columns, shape, phase)
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'copying')`,
        [
          i + 1,
          t.schema,
          t.name,
          t.kind,
          t.key?.columns ?? [],
          identityOf(t),
          JSON.stringify(columns),
          tableShape(t.columns),
        ],
      );
      await installTableCapture(
        src,
        {
          tableId: i + 1,
          schema: t.schema,
          name: t.name,
          keyColumns: t.key?.columns ?? [],
          ...(t.key
            ? {}
            : {
                rowImage: rowImageOf(
                  t.kind,
                  t.columns.map((c) => c.name),
                ),
              }),
          leaves: t.leaves,
        },
        // As `pgferry start` installs them on the source.
        { skipApplySessions: false },
      );
    }
    const { rows } = await src.query<{ s: string }>("select txid_current_snapshot()::text as s");
    const s0 = rows[0]!.s;
    await tgt.query("update pgferry.migration set start_position = $1", [s0]);
    await tgt.query("update pgferry.tables set position = $1", [s0]);
    const copyTable = (name: string) =>
      copyOne(source, target, tables.find((t) => `${t.schema}.${t.name}` === name)!);
    return {
      s0,
      tables,
      copyTable,
      copyAll: async () => {
        for (const t of tables) await copyOne(source, target, t);
      },
    };
  } finally {
    await src.end();
    await tgt.end();
  }
}

async function copyOne(source: LocalDatabase, target: LocalDatabase, t: SourceTable): Promise<void> {
  const src = await open(source, "source");
  const tgt = await open(target, "target");
  try {
    const cols = identList(copyColumns(t.columns).map((c) => c.name));
    const rel = qualified(t.schema, t.name);
    await tgt.query("begin");
    // A table without a key is copied in one snapshot, which becomes its position (as the copy stage does).
    if (!t.key) {
      await src.query("begin isolation level repeatable read");
      const { rows } = await src.query<{ s: string }>("select txid_current_snapshot()::text as s");
      await tgt.query("update pgferry.tables set position = $3 where schema_name = $1 and table_name = $2", [
        t.schema,
        t.name,
        rows[0]!.s,
      ]);
    }
    const out = src.query(
      copyTo(`copy (select ${cols} from ${t.kind === "partitioned" ? "" : "only "}${rel}) to stdout`),
    );
    const into = tgt.query(copyFrom(`copy ${rel} (${cols}) from stdin`));
    await pipeline(out, into);
    await tgt.query(
      "update pgferry.tables set phase = 'indexed', copied_at = now(), indexed_at = now() where schema_name = $1 and table_name = $2",
      [t.schema, t.name],
    );
    await tgt.query("commit");
  } finally {
    await src.end();
    await tgt.end();
  }
}
