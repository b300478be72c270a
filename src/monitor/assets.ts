import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** The dashboard's files: its own beside this module, the chart library's from uPlot. */
const OWN: Record<string, string> = {
  "/": "index.html",
  "/assets/dashboard.js": "dashboard.js",
  "/assets/dashboard.css": "dashboard.css",
};
const VENDOR: Record<string, string> = {
  "/assets/uPlot.iife.min.js": "uPlot.iife.min.js",
  "/assets/uPlot.min.css": "uPlot.min.css",
};
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

export interface Asset {
  body: Buffer;
  type: string;
}

const cache = new Map<string, Promise<Asset | undefined>>();

/** The file served at `path`, or undefined when there is none. Read once, then kept. */
export function readAsset(path: string): Promise<Asset | undefined> {
  let hit = cache.get(path);
  if (!hit) {
    hit = load(path);
    cache.set(path, hit);
  }
  return hit;
}

async function load(path: string): Promise<Asset | undefined> {
  const file = locate(path);
  if (!file) return undefined;
  const body = await readFile(file);
  return { body, type: TYPES[file.slice(file.lastIndexOf(".") + 1)] ?? "application/octet-stream" };
}

function locate(path: string): string | undefined {
  const own = OWN[path];
  if (own) return fileURLToPath(new URL(`./assets/${own}`, import.meta.url));
  const vendor = VENDOR[path];
  if (!vendor) return undefined;
  // The package carries uPlot in dist/monitor/assets/vendor/ (scripts/build.mjs copies it);
  // a clone serves it from node_modules, where uPlot is a dev dependency.
  return packagedVendor(vendor) ?? createRequire(import.meta.url).resolve(`uplot/dist/${vendor}`);
}

function packagedVendor(file: string): string | undefined {
  const path = fileURLToPath(new URL(`./assets/vendor/${file}`, import.meta.url));
  return existsSync(path) ? path : undefined;
}

/** Every path served from a file, for tests and the package check. */
export const ASSET_PATHS = [...Object.keys(OWN), ...Object.keys(VENDOR)];
