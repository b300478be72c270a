import { describe, expect, it } from "vitest";
import { connect, parseConnUrl } from "../../src/db/index.js";
import { testMajors } from "../harness/pairs.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";

describe.each(testMajors())("PostgreSQL %i test server", (major) => {
  it("gives a Heroku-like source: owner, not superuser, no replication, SSL required", async () => {
    const db = await sourceDb(major);
    const [role] = await asOwner<{ rolsuper: boolean; rolreplication: boolean; owns: boolean; ssl: boolean }>(
      db,
      `select r.rolsuper, r.rolreplication,
              (select datdba = r.oid from pg_database where datname = current_database()) as owns,
              (select ssl from pg_stat_ssl where pid = pg_backend_pid()) as ssl
         from pg_roles r where r.rolname = current_user`,
    );
    expect(role).toEqual({ rolsuper: false, rolreplication: false, owns: true, ssl: true });
    await expect(
      connect(parseConnUrl(db.url.replace("sslmode=require", "sslmode=disable"), "source"), {
        stage: "check",
      }),
    ).rejects.toMatchObject({ code: "SSL_REQUIRED", side: "source" });
    const c = await connect(parseConnUrl(db.url, "source"), { stage: "check" });
    const { rows } = await c.query("select current_setting('server_version_num')::int / 10000 as major");
    await c.end();
    expect(rows[0].major).toBe(major);
  });

  it("gives an RDS-like target: a non-superuser owner", async () => {
    const db = await targetDb(major);
    const [role] = await asOwner<{ rolsuper: boolean; owns: boolean }>(
      db,
      `select r.rolsuper, (select datdba = r.oid from pg_database where datname = current_database()) as owns
         from pg_roles r where r.rolname = current_user`,
    );
    expect(role).toEqual({ rolsuper: false, owns: true });
  });
});
