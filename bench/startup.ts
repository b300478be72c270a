import { packAndInstall } from "../test/package/packed.js";
import { run } from "./proc.js";

export interface StartupResult {
  runs: number;
  /** Median wall time of `node -e 0`, ms. */
  nodeMs: number;
  /** Median wall time of `pgferry --help` from the installed package, ms. */
  helpMs: number;
  /** helpMs / nodeMs; the goal is under 2. */
  ratio: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/**
 * How long `pgferry --help` takes to start, against a bare `node -e 0`, from the package as
 * users install it (compiled, no TypeScript at run time). Interleaved runs, medians: other load
 * on the machine slows both alike.
 */
export async function runStartup(runs: number): Promise<StartupResult> {
  const pkg = await packAndInstall();
  try {
    const node: number[] = [];
    const help: number[] = [];
    for (let i = 0; i < runs; i++) {
      node.push((await run(process.execPath, ["-e", "0"])).seconds * 1000);
      help.push((await run(process.execPath, [pkg.bin, "--help"])).seconds * 1000);
    }
    const nodeMs = median(node);
    const helpMs = median(help);
    return { runs, nodeMs, helpMs, ratio: helpMs / nodeMs };
  } finally {
    pkg.remove();
  }
}
