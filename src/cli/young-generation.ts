import v8 from "node:v8";

/**
 * Keeps V8's young generation at its starting size (two 1 MB semispaces) instead of letting it
 * grow to 16 MB each. The copy moves gigabytes through short-lived socket buffers whose memory
 * lives outside the JavaScript heap; a large young generation is collected less often, so more
 * of them wait to be freed: peak RSS 121–130 MB against 101–104 MB this way, at the same CPU
 * per GB (docs/benchmarks.md). `--max-semi-space-size` would do the same but is read only at
 * start-up, where a CLI cannot put it; the growth factor is read each time the young
 * generation would grow, so setting it here, before any work, holds it where it is.
 */
export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString("--semi-space-growth-factor=1");
}
