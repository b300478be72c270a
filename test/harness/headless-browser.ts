import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { waitFor } from "./pgferry-process.js";

/**
 * The system's Chromium (Debian's `chromium` package, which .ci/run installs), driven by
 * playwright-core: nothing is downloaded at test time. PGFERRY_CHROMIUM names another binary.
 */
export function chromiumPath(): string {
  const given = process.env["PGFERRY_CHROMIUM"];
  if (given) return given;
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    try {
      const found = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (found && existsSync(found)) return found;
    } catch {
      // Not this one.
    }
  }
  throw new Error(
    "No Chromium found: install Debian's chromium package (apt-get install -y --no-install-recommends chromium), or set PGFERRY_CHROMIUM.",
  );
}

export interface DashboardPage {
  /** Console errors and uncaught exceptions, as they happened. */
  readonly errors: string[];
  text(selector: string): Promise<string>;
  attribute(selector: string, name: string): Promise<string | null>;
  count(selector: string): Promise<number>;
  waitFor(what: string, probe: () => Promise<boolean>): Promise<void>;
  screenshot(file: string): Promise<void>;
  close(): Promise<void>;
}

export async function openDashboard(url: string): Promise<DashboardPage> {
  const browser: Browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // As root (CI), Chromium refuses to start with its sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  const errors: string[] = [];
  let page: Page;
  try {
    page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (err) => errors.push(err.message));
    const res = await page.goto(url, { waitUntil: "load" });
    if (res?.status() !== 200) throw new Error(`the dashboard answered ${res?.status()}`);
  } catch (err) {
    await browser.close();
    throw err;
  }
  return {
    errors,
    text: async (sel) => (await page.textContent(sel)) ?? "",
    attribute: (sel, name) => page.getAttribute(sel, name),
    count: (sel) => page.locator(sel).count(),
    waitFor: async (what, probe) => {
      await waitFor(what, async () => (await probe()) || undefined, { timeoutMs: 60_000, intervalMs: 200 });
    },
    screenshot: async (file) => {
      await page.screenshot({ path: file, fullPage: true });
    },
    close: () => browser.close(),
  };
}
