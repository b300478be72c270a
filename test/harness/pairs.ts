/**
 * Source → target version pairs the suite runs. PGFERRY_TEST_PAIRS="12:17,15:16" (the
 * default) covers an old Heroku-era source to the newest target and a one-major upgrade.
 */
export function testPairs(): { source: number; target: number }[] {
  const raw = process.env["PGFERRY_TEST_PAIRS"] ?? "12:17,15:16";
  return raw.split(",").map((p) => {
    const [s, t] = p.split(":").map(Number);
    if (!s || !t) throw new Error(`bad PGFERRY_TEST_PAIRS entry: ${p}`);
    return { source: s, target: t };
  });
}

export function testMajors(): number[] {
  return [...new Set(testPairs().flatMap((p) => [p.source, p.target]))].sort();
}

/** A readable label for describe.each: "12 → 17". */
export function pairLabel(p: { source: number; target: number }): string {
  return `${p.source} → ${p.target}`;
}
