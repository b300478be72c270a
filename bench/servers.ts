import { ident } from "../src/db/index.js";
import {
  herokuLikeDatabase,
  type LocalDatabase,
  LocalServer,
  rdsLikeDatabase,
} from "../src/local-server/index.js";

/** Server settings shared by every contender: identical on both sides, so no one gets an edge. */
const SHARED_CONF = { maintenance_work_mem: "'256MB'", max_wal_size: "'4GB'", checkpoint_timeout: "'15min'" };

export interface BenchServers {
  source: LocalServer;
  target: LocalServer;
  stop(): Promise<void>;
}

/** A Heroku-like source (PostgreSQL 15) and an RDS-like target (16), fsync off on both. */
export async function startServers(): Promise<BenchServers> {
  const [source, target] = await Promise.all([
    LocalServer.start({ major: 15, durable: false, extraConf: SHARED_CONF }),
    LocalServer.start({ major: 16, durable: false, extraConf: SHARED_CONF }),
  ]);
  return {
    source,
    target,
    stop: async () => {
      await Promise.allSettled([source.stop(), target.stop()]);
    },
  };
}

export function sourceDatabase(servers: BenchServers, name: string): Promise<LocalDatabase> {
  return herokuLikeDatabase(servers.source, name, { role: `${name}_owner` });
}

/** A fresh, empty RDS-like target database; the server is checkpointed first so no contender pays for the last one's writes. */
export async function freshTarget(servers: BenchServers, name: string): Promise<LocalDatabase> {
  await servers.target.admin("postgres", "checkpoint");
  return rdsLikeDatabase(servers.target, name, { role: `${name}_owner` });
}

export async function dropTarget(servers: BenchServers, db: LocalDatabase): Promise<void> {
  await servers.target.admin("postgres", `drop database if exists ${ident(db.database)} with (force)`);
  await servers.target.admin("postgres", `drop role if exists ${ident(db.role)}`);
  await servers.target.admin("postgres", "checkpoint");
}
