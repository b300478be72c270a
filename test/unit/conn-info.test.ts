import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { libpqEnv, parseConnUrl, resolveUrl, tlsOptions } from "../../src/db/index.js";
import { redact } from "../../src/errors/index.js";

const PASSWORD = "Sup3rSecretPw!@#";
const ENCODED = encodeURIComponent(PASSWORD);
const URL_OK = `postgres://app:${ENCODED}@db.example.com:6543/appdb?sslmode=require`;

describe("parseConnUrl", () => {
  it("parses every part, percent-decoded", () => {
    const info = parseConnUrl(URL_OK, "source");
    expect({ ...info }).toEqual({
      side: "source",
      host: "db.example.com",
      port: 6543,
      database: "appdb",
      user: "app",
      sslmode: "require",
      sslrootcert: undefined,
      params: { sslmode: "require" },
      display: "postgres://app:****@db.example.com:6543/appdb?sslmode=require",
    });
    expect(info.password).toBe(PASSWORD);
  });

  it("keeps the password out of keys, JSON, inspection and the display form", () => {
    const info = parseConnUrl(URL_OK, "target");
    expect(Object.keys(info)).not.toContain("password");
    for (const text of [JSON.stringify(info), String(Object.entries(info)), info.display]) {
      expect(text).not.toContain("Sup3rSecret");
      expect(text).not.toContain(ENCODED);
    }
    expect(Object.isFrozen(info)).toBe(true);
  });

  it("defaults the port to 5432 and sslmode to prefer; takes postgresql:// and IPv6 hosts", () => {
    const a = parseConnUrl("postgresql://u@localhost/db", "source");
    expect([a.port, a.sslmode, a.password]).toEqual([5432, "prefer", undefined]);
    const b = parseConnUrl("postgres://u:p@[::1]:5433/my%20db", "source");
    expect([b.host, b.port, b.database]).toEqual(["::1", 5433, "my db"]);
  });

  it("rejects malformed URLs as bad input naming the side, without echoing the URL", () => {
    const cases: [string, RegExp][] = [
      [`not a url ${PASSWORD}`, /^The source URL is not a valid connection URL\.$/],
      [`mysql://u:${ENCODED}@h/db`, /must start with postgres:\/\/ or postgresql:\/\/, not mysql:/],
      [`postgres://u:${ENCODED}@h`, /has no database name/],
      [`postgres://:${ENCODED}@h/db`, /has no user name/],
      [`postgres://u:${ENCODED}@h/db?sslmode=maybe`, /has sslmode=maybe; use one of/],
      [`postgres://u:${ENCODED}@h:99999/db`, /not a valid connection URL|invalid port/],
    ];
    for (const [raw, message] of cases) {
      let caught: unknown;
      try {
        parseConnUrl(raw, "source");
      } catch (err) {
        caught = err;
      }
      expect(caught, raw).toMatchObject({ code: "BAD_URL", side: "source", exitCode: 2 });
      expect((caught as Error).message).toMatch(message);
      expect((caught as Error).message).not.toContain("Sup3rSecret");
    }
  });
});

describe("tlsOptions", () => {
  it("follows libpq's sslmode meanings", () => {
    const base = "postgres://u:p@db.example.com/db?sslmode=";
    expect(tlsOptions(parseConnUrl(`${base}disable`, "source"))).toBe(false);
    expect(tlsOptions(parseConnUrl(`${base}require`, "source"))).toEqual({ rejectUnauthorized: false });
    expect(tlsOptions(parseConnUrl(`${base}verify-full`, "source"))).toMatchObject({
      rejectUnauthorized: true,
      servername: "db.example.com",
    });
  });

  it("reads sslrootcert, and reports an unreadable one as bad input", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-ca-"));
    const ca = path.join(dir, "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const ok = tlsOptions(parseConnUrl(`postgres://u@h/db?sslmode=verify-ca&sslrootcert=${ca}`, "target"));
    expect(ok).toMatchObject({ rejectUnauthorized: true, ca: expect.stringContaining("BEGIN CERTIFICATE") });
    const missing = parseConnUrl(`postgres://u@h/db?sslmode=verify-ca&sslrootcert=${dir}/nope.pem`, "target");
    expect(() => tlsOptions(missing)).toThrow(expect.objectContaining({ code: "BAD_URL", side: "target" }));
  });
});

describe("libpqEnv", () => {
  it("hands the password to child processes through PGPASSWORD only", () => {
    expect(libpqEnv(parseConnUrl(URL_OK, "source"))).toEqual({
      PGHOST: "db.example.com",
      PGPORT: "6543",
      PGUSER: "app",
      PGDATABASE: "appdb",
      PGSSLMODE: "require",
      PGPASSWORD: PASSWORD,
    });
  });
});

describe("resolveUrl", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it("prefers the flag, then PGFERRY_<SIDE>_URL", () => {
    process.env["PGFERRY_TARGET_URL"] = "postgres://env@envhost/envdb";
    expect(resolveUrl("postgres://flag@flaghost/db", "target").host).toBe("flaghost");
    expect(resolveUrl(undefined, "target").host).toBe("envhost");
  });

  it("reports a missing URL as bad input naming the side", () => {
    delete process.env["PGFERRY_SOURCE_URL"];
    expect(() => resolveUrl(undefined, "source")).toThrow(
      expect.objectContaining({ code: "MISSING_URL", side: "source", exitCode: 2 }),
    );
  });
});

describe("redact", () => {
  it("scrubs a parsed password wherever it appears, plain or percent-encoded, and masks URL passwords", () => {
    parseConnUrl(URL_OK, "source");
    expect(redact(`auth failed for ${PASSWORD} (${ENCODED})`)).toBe("auth failed for **** (****)");
    expect(redact("see postgres://x:other@h/db")).toBe("see postgres://x:****@h/db");
  });
});
