import parsePrometheusTextFormat, { type PromFamily } from "parse-prometheus-text-format";
import { expect } from "vitest";
import { type PgferryProcess, waitFor } from "./pgferry-process.js";

/** The dashboard URL a `start` or `status` with --listen printed (text or --json). */
export async function monitorUrl(p: PgferryProcess): Promise<string> {
  return waitFor(
    "the monitor's URL",
    () => {
      for (const line of p.stdout) {
        const m =
          /dashboard: (http:\/\/\S+\/) /.exec(line) ??
          /"type":"monitor:listening".*?"url":"([^"]+)"/.exec(line);
        if (m) return m[1]!;
      }
      return undefined;
    },
    { timeoutMs: 60_000, intervalMs: 50, while: p },
  );
}

export interface Scrape {
  text: string;
  families: Map<string, PromFamily>;
}

/** GET /metrics, parsed by a Prometheus text-format parser; every family has HELP and TYPE. */
export async function scrape(base: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(new URL("metrics", base), { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  const declared = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
  const helped = new Set([...text.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]!));
  expect(declared.filter((n) => !helped.has(n))).toEqual([]);
  expect([...families.keys()].sort()).toEqual([...new Set(declared)].sort());
  return { text, families };
}

/** The value of one sample (labels matched exactly), or undefined. */
export function sample(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = s.families.get(name);
  const m = f?.metrics.find((x) => JSON.stringify(sorted(x.labels ?? {})) === JSON.stringify(sorted(labels)));
  return m?.value === undefined ? undefined : Number(m.value);
}

/** Sum over every sample of a counter or gauge. */
export function total(s: Scrape, name: string): number {
  return (s.families.get(name)?.metrics ?? []).reduce((a, m) => a + Number(m.value ?? 0), 0);
}

function sorted(o: Record<string, string>): [string, string][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}

/**
 * A histogram's `_count` for one label value. The parser merges the series of a labelled
 * histogram into one (it keeps buckets only), so the count is read from its sample line.
 */
export function histogramCount(s: Scrape, name: string, label: string, value: string): number | undefined {
  const m = new RegExp(`^${name}_count\\{${label}="${value}"\\} (\\S+)$`, "m").exec(s.text);
  return m ? Number(m[1]) : undefined;
}

/** A histogram's `_count` lines: label text → value. */
function countLines(text: string, name: string): Map<string, number> {
  const lines = text.matchAll(new RegExp(`^${name}_count\\{([^}]*)\\} (\\S+)$`, "gm"));
  return new Map([...lines].map((m) => [m[1]!, Number(m[2])]));
}

/** Every counter sample (and histogram count) of `later` is at least what `earlier` had. */
export function assertMonotonic(earlier: Scrape, later: Scrape): void {
  const shrunk: string[] = [];
  for (const [name, f] of earlier.families) {
    if (f.type === "COUNTER") {
      for (const m of f.metrics) {
        const labels = m.labels ?? {};
        const now = later.families
          .get(name)
          ?.metrics.find((x) => JSON.stringify(sorted(x.labels ?? {})) === JSON.stringify(sorted(labels)));
        if (!(Number(now?.value) >= Number(m.value)))
          shrunk.push(`${name}${JSON.stringify(labels)}: ${m.value} → ${now?.value}`);
      }
    }
    if (f.type === "HISTOGRAM") {
      const now = countLines(later.text, name);
      for (const [labels, value] of countLines(earlier.text, name))
        if (!((now.get(labels) ?? Number.NaN) >= value))
          shrunk.push(`${name}_count{${labels}}: ${value} → ${now.get(labels)}`);
    }
  }
  expect(shrunk).toEqual([]);
}

/** Records a Server-Sent Events stream until stopped. */
export class SseRecorder {
  text = "";
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = (async () => {
      const res = await fetch(url, { headers, signal: this.abort.signal });
      expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        this.text += decoder.decode(value, { stream: true });
      }
    })().catch((err: unknown) => {
      if ((err as Error).name !== "AbortError") throw err;
    });
  }

  /** The data of every message of this kind so far. */
  messages(kind: string): unknown[] {
    return [...this.text.matchAll(/^event: (\S+)\ndata: (.*)$/gm)]
      .filter((m) => m[1] === kind)
      .map((m) => JSON.parse(m[2]!) as unknown);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}
