import { isPgferryError } from "../errors/index.js";

/**
 * The SQLSTATEs pgferry branches on, by name (PostgreSQL's appendix A names), and one typed
 * way to read the fields a driver or network error carries. Code branches on `err.code`,
 * never on message text, and never on a bare five-character literal.
 */
export const SQLSTATE = {
  // Class 08: connection exception.
  connectionException: "08000",
  connectionDoesNotExist: "08003",
  connectionFailure: "08006",
  sqlclientUnableToEstablishSqlconnection: "08001",
  sqlserverRejectedEstablishmentOfSqlconnection: "08004",
  protocolViolation: "08P01",
  // Class 0A: feature not supported.
  featureNotSupported: "0A000",
  // Class 22: data exception (the class is what a binary COPY refusal is tested on).
  invalidParameterValue: "22023",
  // Class 23: integrity constraint violation.
  foreignKeyViolation: "23503",
  uniqueViolation: "23505",
  exclusionViolation: "23P01",
  // Class 25: invalid transaction state (the fence raises it).
  readOnlySqlTransaction: "25006",
  // Class 28: invalid authorization specification.
  invalidAuthorizationSpecification: "28000",
  invalidPassword: "28P01",
  // Class 3D / 3F: invalid catalog or schema name.
  invalidCatalogName: "3D000",
  invalidSchemaName: "3F000",
  // Class 40: transaction rollback.
  serializationFailure: "40001",
  deadlockDetected: "40P01",
  // Class 42: syntax error or access rule violation.
  syntaxError: "42601",
  insufficientPrivilege: "42501",
  wrongObjectType: "42809",
  undefinedFunction: "42883",
  undefinedTable: "42P01",
  undefinedObject: "42704",
  duplicateObject: "42710",
  duplicateSchema: "42P06",
  duplicateTable: "42P07",
  duplicateAlias: "42712",
  duplicateColumn: "42701",
  duplicateFunction: "42723",
  // Class 53: insufficient resources.
  tooManyConnections: "53300",
  // Class 55: object not in prerequisite state.
  lockNotAvailable: "55P03",
  // Class 57: operator intervention.
  queryCanceled: "57014",
  adminShutdown: "57P01",
  crashShutdown: "57P02",
  cannotConnectNow: "57P03",
  // Class 58: system error.
  systemError: "58000",
  undefinedFile: "58P01",
} as const;

/** SQLSTATE classes pgferry branches on (the first two characters). */
export const SQLSTATE_CLASS = {
  dataException: "22",
} as const;

export type SqlState = (typeof SQLSTATE)[keyof typeof SQLSTATE];

/** The fields pgferry reads from a driver (pg) or network (node) error; all optional. */
export interface DriverErrorFields {
  /** A SQLSTATE from the server, or a node error code (ECONNRESET, ENOTFOUND, …). */
  code?: string;
  message?: string;
  name?: string;
  /** The constraint or index a server error names. */
  constraint?: string;
  /** The server's context (the PL/pgSQL call stack). */
  where?: string;
  cause?: unknown;
}

/** The fields of `err` that pgferry reads, each only when it has the expected type. */
export function driverFields(err: unknown): DriverErrorFields {
  if (typeof err !== "object" || err === null) return {};
  const e = err as Record<string, unknown>;
  const text = (k: string) => (typeof e[k] === "string" ? { [k]: e[k] as string } : {});
  return {
    ...text("code"),
    ...text("message"),
    ...text("name"),
    ...text("constraint"),
    ...text("where"),
    ...("cause" in e ? { cause: e["cause"] } : {}),
  };
}

const SQLSTATE_SHAPE = /^[0-9A-Z]{5}$/;

/** The server's SQLSTATE of `err`, or undefined for anything that is not a server error's code. */
export function sqlState(err: unknown): string | undefined {
  // A PgferryError's own codes are no SQLSTATEs, even a five-letter one (USAGE).
  if (isPgferryError(err)) return undefined;
  const code = driverFields(err).code;
  return code !== undefined && SQLSTATE_SHAPE.test(code) ? code : undefined;
}

/** The SQLSTATE's class: its first two characters ("22" for every data exception). */
export function sqlStateClass(err: unknown): string | undefined {
  return sqlState(err)?.slice(0, 2);
}
