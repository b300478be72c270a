import type { TestProject } from "vitest/node";
import { LocalServer } from "../../src/local-server/index.js";
import { testMajors } from "./pairs.js";

/**
 * Starts one real server per PostgreSQL major the suite needs, once per run; every test makes
 * its own databases on them. Servers are stopped and removed at the end, pass or fail.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const majors = testMajors();
  const servers: LocalServer[] = [];
  try {
    for (const major of majors) servers.push(await LocalServer.start({ major }));
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  project.provide(
    "servers",
    servers.map((s) => s.handle),
  );
  const stopAll = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => void stopAll().then(() => process.exit(130)));
  return stopAll;
}

declare module "vitest" {
  export interface ProvidedContext {
    servers: import("../../src/local-server/index.js").ServerHandle[];
  }
}
