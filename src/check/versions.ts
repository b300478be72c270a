import { isPgferryError } from "../errors/index.js";
import { installHint, locatePgDump, type PgDumpBinary, pgDumpSupports } from "../schema/pg-dump-binary.js";
import type { ServerFacts } from "./connections.js";
import type { Findings } from "./types.js";

/**
 * Capture puts row triggers on partitioned tables, which PostgreSQL clones onto every
 * partition, present and future: that arrived in 11.
 */
export const MIN_SOURCE_MAJOR = 11;

export function checkVersions(source: ServerFacts, target: ServerFacts, findings: Findings): void {
  if (source.major < MIN_SOURCE_MAJOR) {
    findings.blocker({
      code: "SOURCE_TOO_OLD",
      side: "source",
      message: `The source runs PostgreSQL ${source.version}; pgferry needs ${MIN_SOURCE_MAJOR} or newer (its change capture puts row triggers on partitioned tables).`,
      fix: `Upgrade the source to PostgreSQL ${MIN_SOURCE_MAJOR} or newer first (on Heroku: pg:upgrade), or migrate it with pg_dump/pg_restore during a maintenance window.`,
    });
  }
  if (target.major < source.major) {
    findings.blocker({
      code: "TARGET_OLDER_THAN_SOURCE",
      side: "target",
      message: `The target runs PostgreSQL ${target.version}, older than the source's ${source.version}; a schema cannot be moved to an older major version safely.`,
      fix: `Use a target running PostgreSQL ${source.major} or newer.`,
    });
  } else if (target.major > source.major) {
    findings.note({
      code: "MAJOR_UPGRADE",
      side: "target",
      message: `The migration upgrades PostgreSQL ${source.major} to ${target.major}.`,
      fix: `Read the release notes of every major version after ${source.major} for incompatibilities your application may meet; run your test suite against a ${target.major} server.`,
    });
  }
}

/** pg_dump must exist and be at least as new as the source's major version. */
export async function checkPgDump(
  explicit: string | undefined,
  sourceMajor: number,
  targetMajor: number,
  findings: Findings,
): Promise<PgDumpBinary | null> {
  let found: PgDumpBinary;
  try {
    found = await locatePgDump(explicit, { serverMajor: sourceMajor });
  } catch (err) {
    if (!isPgferryError(err) || err.code !== "PG_DUMP_MISSING") throw err;
    findings.blocker({ code: "PG_DUMP_MISSING", side: "local", message: err.message, fix: err.hint });
    return null;
  }
  if (!pgDumpSupports(found.major, sourceMajor)) {
    findings.blocker({
      code: "PG_DUMP_TOO_OLD",
      side: "local",
      message: `pg_dump ${found.version} (${found.path}) cannot dump the source's PostgreSQL ${sourceMajor}.`,
      fix: installHint(sourceMajor),
    });
  } else if (found.major < targetMajor) {
    // It can read the source, but it quotes only the key words of its own version: a name
    // that became a key word later (json in 16+) is printed bare, and the target refuses it.
    findings.warning({
      code: "PG_DUMP_OLDER_THAN_TARGET",
      side: "local",
      message: `pg_dump ${found.version} is older than the target's PostgreSQL ${targetMajor}: it prints names the way PostgreSQL ${found.major} parses them, and the target may refuse some (check tries the schema on the target and lists any it refuses).`,
      fix: `${installHint(targetMajor)} A pg_dump of the target's major version dumps the source as well.`,
    });
  }
  return found;
}
