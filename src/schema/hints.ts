import { SQLSTATE } from "../db/index.js";
import { sqlIdent } from "../db/quote.js";

/** Entries start leaves alone when the target has them identically (functions.ts). */
const FUNCTION_TYPES = new Set(["FUNCTION", "PROCEDURE"]);

/** What a hint may name: the role that runs the schema on the target and its major version. */
export interface HintContext {
  role?: string;
  targetMajor?: number;
  /** Major of the pg_dump that wrote the schema. */
  pgDumpMajor?: number;
}

/** The refused entry: pg_dump's type and "schema.name" (for a view, its name). */
export interface RefusedObject {
  type: string;
  name: string;
}

/**
 * The fix for a statement of the source schema that the target refused, chosen by the
 * refusal's SQLSTATE (and, for a privilege, by what was denied), never a guess: an
 * unrecognised refusal gets no specific hint and the catalogue's neutral one applies.
 */
export function schemaErrorHint(
  sqlstate: string | undefined,
  message: string,
  ctx: HintContext = {},
  object?: RefusedObject,
): string | undefined {
  const role = ctx.role ? sqlIdent(ctx.role) : "<target role>";
  if (sqlstate === SQLSTATE.insufficientPrivilege) {
    const param = /permission denied to set parameter "([^"]+)"/.exec(message);
    if (param) {
      const grant = `GRANT SET ON PARAMETER ${param[1]} TO ${role};`;
      return ctx.targetMajor !== undefined && ctx.targetMajor < 15
        ? `Only a superuser may set ${param[1]} on this target (PostgreSQL ${ctx.targetMajor} has no GRANT SET ON PARAMETER): have an administrator create the function on the target first (pgferry then keeps theirs when it is identical), or remove the SET ${param[1]} clause from the function on the source.`
        : `Have an administrator run \`${grant}\` on the target (PostgreSQL 15 or newer), or remove the SET ${param[1]} clause from the function on the source.`;
    }
    const fdw = /permission denied for foreign-data wrapper (\S+)/.exec(message);
    if (fdw) {
      return `Have an administrator run \`GRANT USAGE ON FOREIGN DATA WRAPPER ${fdw[1]} TO ${role};\` on the target, or leave the foreign tables out with --exclude (their servers and user mappings are then left out too).`;
    }
    if (/permission denied to set the "(filename|program)" option/.test(message)) {
      return `Reading server files needs pg_read_server_files (pg_execute_server_program for a program): have an administrator run \`GRANT pg_read_server_files TO ${role};\` on the target, or leave the foreign table out with --exclude.`;
    }
    const schema = /^permission denied for schema (.+)$/s.exec(message);
    if (schema) {
      return `The target role may not use schema ${schema[1]}, which exists on the target already (an administrator made it): have its owner run \`GRANT USAGE, CREATE ON SCHEMA ${sqlIdent(schema[1]!)} TO ${role};\` on the target, or drop the schema there if nothing is in it.`;
    }
    if (/permission denied for language/.test(message)) {
      return "Only a superuser may create functions in this language: have an administrator create the function on the target exactly as the source has it (the statement shown); pgferry then keeps it instead of creating it again.";
    }
    if (object && FUNCTION_TYPES.has(object.type)) {
      return "The target role lacks a privilege this function needs (often superuser): have an administrator create it on the target exactly as shown (pgferry then keeps it instead of creating it again), or change it on the source.";
    }
    // Any other object start creates itself, so an administrator's copy would only collide with it.
    return "The target role lacks a privilege this object needs (the server's message says which): grant it to the target role on the target, or change or leave out the object on the source, then run start again.";
  }
  if (sqlstate === SQLSTATE.syntaxError) {
    return olderPgDump(ctx);
  }
  if (sqlstate === SQLSTATE.featureNotSupported) {
    return "The target's PostgreSQL does not support what this statement uses (changed or removed in a later major version): change the object on the source, or create an equivalent on the target as an administrator.";
  }
  if (
    sqlstate === SQLSTATE.undefinedTable &&
    object?.type === "VIEW" &&
    message === `relation "${object.name}" does not exist`
  ) {
    // CREATE OR REPLACE VIEW v AS … FROM v is accepted, but the view can never be read
    // (infinite recursion) and no dump can create it: it must name itself before it exists.
    return `The view reads itself (it was replaced by a definition that selects from it): querying it fails on the source too, and no dump can recreate it. Drop it on the source (DROP VIEW ${object.name};) or replace it with a definition that does not read itself.`;
  }
  const missingRole =
    sqlstate === SQLSTATE.undefinedObject ? /^role "(.+)" does not exist$/s.exec(message) : null;
  if (missingRole) {
    // A policy's TO list (or a user mapping) names a role of the source; start carries no role.
    return `Create the role on the target first (as a role with CREATEROLE): CREATE ROLE ${sqlIdent(missingRole[1]!)} NOLOGIN; then grant it to the roles that need it, as on the source.`;
  }
  if (
    sqlstate === SQLSTATE.undefinedObject ||
    sqlstate === SQLSTATE.undefinedFunction ||
    sqlstate === SQLSTATE.undefinedTable ||
    sqlstate === SQLSTATE.invalidSchemaName
  ) {
    return "It refers to something the target lacks (a role, an extension, a collation, an object refused before it): create that on the target, then run start again.";
  }
  if (
    sqlstate === SQLSTATE.duplicateTable ||
    sqlstate === SQLSTATE.duplicateObject ||
    sqlstate === SQLSTATE.duplicateFunction ||
    sqlstate === SQLSTATE.duplicateSchema
  ) {
    return "The target already has an object of that name with another definition: drop it on the target (it must start empty), or make it identical to the source's.";
  }
  if (sqlstate === SQLSTATE.undefinedFile || sqlstate === SQLSTATE.systemError) {
    return "A file the object needs (a shared library) is not installed on the target server: install it there, or leave the object out.";
  }
  return undefined;
}

/**
 * The statement an administrator runs on the target to lift the refusal, where one statement
 * does it (the same one the hint prints); undefined otherwise.
 */
export function schemaFixSql(
  sqlstate: string | undefined,
  message: string,
  ctx: HintContext = {},
): string | undefined {
  const role = ctx.role ? sqlIdent(ctx.role) : undefined;
  if (sqlstate === SQLSTATE.insufficientPrivilege && role) {
    const param = /permission denied to set parameter "([^"]+)"/.exec(message);
    if (param && (ctx.targetMajor === undefined || ctx.targetMajor >= 15))
      return `GRANT SET ON PARAMETER ${param[1]} TO ${role};`;
    const fdw = /permission denied for foreign-data wrapper (\S+)/.exec(message);
    if (fdw) return `GRANT USAGE ON FOREIGN DATA WRAPPER ${fdw[1]} TO ${role};`;
    if (/permission denied to set the "filename" option/.test(message))
      return `GRANT pg_read_server_files TO ${role};`;
    const schema = /^permission denied for schema (.+)$/s.exec(message);
    if (schema) return `GRANT USAGE, CREATE ON SCHEMA ${sqlIdent(schema[1]!)} TO ${role};`;
  }
  const missingRole =
    sqlstate === SQLSTATE.undefinedObject ? /^role "(.+)" does not exist$/s.exec(message) : null;
  if (missingRole) return `CREATE ROLE ${sqlIdent(missingRole[1]!)} NOLOGIN;`;
  return undefined;
}

function olderPgDump(ctx: HintContext): string {
  const which =
    ctx.targetMajor !== undefined
      ? `pg_dump ${ctx.targetMajor} (the target's major version)`
      : "a pg_dump of the target's major version";
  const older =
    ctx.pgDumpMajor !== undefined && ctx.targetMajor !== undefined && ctx.pgDumpMajor < ctx.targetMajor
      ? ` pg_dump ${ctx.pgDumpMajor} quotes only the words that were reserved in PostgreSQL ${ctx.pgDumpMajor}.`
      : "";
  return `The target cannot parse the statement as pg_dump printed it (a name that is a key word in the target's version, or syntax it changed).${older} Install ${which} and pass it with --pg-dump, or rename the object on the source.`;
}
