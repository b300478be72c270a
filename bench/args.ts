import { parseArgs } from "node:util";

export const SECTIONS = [
  "startup",
  "raw",
  "dump",
  "pgcopydb",
  "pgferry",
  "triggers",
  "variants",
  "replay",
  "lag",
] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  sizeMb: number;
  quick: boolean;
  jobs: number;
  /** Runs of each copy contender (interleaved); the fastest is reported. */
  repeat: number;
  rawPerTable: boolean;
  sections: Set<Section>;
  pgbenchSeconds: number;
  triggerSeconds: number;
  pgbenchScale: number;
  triggerRounds: number;
  lagRates: number[];
  lagSeconds: number;
}

export const DEFAULT_SIZE_MB = 1024;

const USAGE = `usage: npm run bench -- [--quick] [--size-mb N] [--jobs N] [--repeat N] [--only startup,raw,dump,pgcopydb,pgferry,triggers,variants,replay,lag]
                          [--raw-per-table] [--pgbench-seconds N] [--trigger-rounds N] [--trigger-seconds N] [--lag-rates 200,500] [--lag-seconds N]`;

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      "size-mb": { type: "string" },
      jobs: { type: "string", default: "4" },
      repeat: { type: "string" },
      "raw-per-table": { type: "boolean", default: false },
      only: { type: "string" },
      "pgbench-seconds": { type: "string" },
      "pgbench-scale": { type: "string", default: "10" },
      "trigger-rounds": { type: "string" },
      "trigger-seconds": { type: "string" },
      "lag-rates": { type: "string", default: "200,500" },
      "lag-seconds": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick!;
  const int = (name: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer\n${USAGE}`);
    return n;
  };
  const sections = new Set<Section>();
  for (const s of (values.only ?? SECTIONS.join(",")).split(",")) {
    if (!(SECTIONS as readonly string[]).includes(s))
      throw new Error(`--only: unknown section ${s}\n${USAGE}`);
    sections.add(s as Section);
  }
  return {
    sizeMb: int("size-mb", values["size-mb"], quick ? 100 : DEFAULT_SIZE_MB),
    quick,
    jobs: int("jobs", values.jobs, 4),
    repeat: int("repeat", values.repeat, quick ? 1 : 2),
    rawPerTable: values["raw-per-table"]!,
    sections,
    pgbenchSeconds: int("pgbench-seconds", values["pgbench-seconds"], quick ? 8 : 20),
    pgbenchScale: int("pgbench-scale", values["pgbench-scale"], 10),
    triggerRounds: int("trigger-rounds", values["trigger-rounds"], quick ? 2 : 6),
    triggerSeconds: int("trigger-seconds", values["trigger-seconds"], quick ? 5 : 10),
    lagRates: values["lag-rates"]!.split(",").map((r) => int("lag-rates", r, 0)),
    lagSeconds: int("lag-seconds", values["lag-seconds"], quick ? 10 : 30),
  };
}
