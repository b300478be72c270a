/**
 * Sizes for people, everywhere pgferry prints one (progress, check's findings, the demo's
 * summary): SI units, 1 MB = 10^6 bytes, as --max-rate takes them.
 */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = Math.max(0, n);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
