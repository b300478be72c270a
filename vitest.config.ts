import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/harness/global-setup.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two cores: more parallel files only queue on the CPU behind the servers.
    maxWorkers: 3,
    minWorkers: 1,
    reporters: ["default", "./test/harness/summary-reporter.ts"],
  },
});
