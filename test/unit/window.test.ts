import { describe, expect, it } from "vitest";
import { prng } from "../../src/demo/prng.js";
import {
  cutSnapshot,
  formatSnapshot,
  isVisible,
  parseSnapshot,
  snapshotCovers,
  type TxidSnapshot,
} from "../../src/positions/index.js";
import { topoRank } from "../../src/stream/reverse.js";

/** A random snapshot and a later one, as a real server would produce them. */
function snapshotPair(rand: () => number): [TxidSnapshot, TxidSnapshot] {
  const base = 1000n;
  const running = new Set<bigint>();
  const committed = new Set<bigint>();
  let next = base;
  const take = (): TxidSnapshot => {
    const xip = [...running].sort((a, b) => (a < b ? -1 : 1));
    return { xmin: xip[0] ?? next, xmax: next, xip };
  };
  const step = () => {
    if (rand() < 0.5 || running.size === 0) running.add(next++);
    else {
      const list = [...running];
      const t = list[Math.floor(rand() * list.length)]!;
      running.delete(t);
      committed.add(t);
    }
  };
  for (let i = 0; i < 20; i++) step();
  const p = take();
  for (let i = 0; i < 30; i++) step();
  return [p, take()];
}

describe("txid snapshots", () => {
  it("parses and formats the server's text form", () => {
    for (const text of ["496:496:", "10:20:10,12,19", "5:9:7"]) {
      expect(formatSnapshot(parseSnapshot(text))).toBe(text);
    }
    expect(() => parseSnapshot("10:5:")).toThrow();
    expect(() => parseSnapshot("10:20:12,11")).toThrow();
    expect(() => parseSnapshot("10:20:25")).toThrow();
  });

  it("applies the visibility rule", () => {
    const s = parseSnapshot("10:20:10,12");
    expect([9n, 10n, 11n, 12n, 13n, 19n, 20n].map((t) => isVisible(t, s))).toEqual([
      true,
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
  });

  it("cuts a window so each txid lands in exactly one of the two halves", () => {
    const rand = prng(42);
    for (let round = 0; round < 500; round++) {
      const [p, q] = snapshotPair(rand);
      expect(snapshotCovers(q, p)).toBe(true);
      const cut = p.xmin + BigInt(Math.floor(rand() * Number(q.xmax - p.xmin + 3n)));
      const c = cutSnapshot(p, q, cut);
      // The result must be a snapshot the server accepts.
      expect(formatSnapshot(parseSnapshot(formatSnapshot(c)))).toBe(formatSnapshot(c));
      for (let t = p.xmin - 2n; t < q.xmax + 2n; t++) {
        const want = isVisible(t, p) || (isVisible(t, q) && t < cut);
        expect(isVisible(t, c), `t=${t} p=${formatSnapshot(p)} q=${formatSnapshot(q)} cut=${cut}`).toBe(want);
      }
      expect(snapshotCovers(c, p)).toBe(true);
      expect(snapshotCovers(q, c)).toBe(true);
    }
  });

  it("covers means exactly: every txid visible in the earlier one is visible in the later one", () => {
    // Issue 10: verify's own copy said no when later.xmax < earlier.xmax even though every txid
    // in between was still running in `earlier` (so it saw none of them). Such a position does
    // hold everything the snapshot saw; verify then waited for nothing, or called applied keys
    // "not applied". One algebra now; checked against the definition on random pairs.
    expect(snapshotCovers(parseSnapshot("100:100:"), parseSnapshot("100:105:100,101,102,103,104"))).toBe(
      true,
    );
    expect(snapshotCovers(parseSnapshot("100:101:"), parseSnapshot("100:105:100,102,103,104"))).toBe(false);
    const rand = prng(7);
    const random = (): TxidSnapshot => {
      const xmin = 100n + BigInt(Math.floor(rand() * 6));
      const xmax = xmin + BigInt(Math.floor(rand() * 6));
      const xip: bigint[] = [];
      for (let t = xmin; t < xmax; t++) if (t === xmin || rand() < 0.5) xip.push(t);
      return xmax === xmin ? { xmin, xmax, xip: [] } : { xmin, xmax, xip };
    };
    for (let i = 0; i < 2000; i++) {
      const a = random();
      const b = random();
      let want = true;
      for (let t = 95n; t < 115n; t++) if (isVisible(t, a) && !isVisible(t, b)) want = false;
      expect(snapshotCovers(b, a), `${formatSnapshot(b)} covers ${formatSnapshot(a)}`).toBe(want);
    }
  });

  it("says when one snapshot does not cover another", () => {
    expect(snapshotCovers(parseSnapshot("10:20:"), parseSnapshot("10:21:"))).toBe(false);
    expect(snapshotCovers(parseSnapshot("10:20:"), parseSnapshot("10:21:20"))).toBe(true);
    expect(snapshotCovers(parseSnapshot("10:20:15"), parseSnapshot("10:20:"))).toBe(false);
    expect(snapshotCovers(parseSnapshot("10:20:"), parseSnapshot("10:20:15"))).toBe(true);
  });
});

describe("reverse apply order", () => {
  it("puts referenced tables before the tables that reference them, cycles last", () => {
    const rank = topoRank(
      [1, 2, 3, 4, 5, 6],
      [
        { child: 1, parent: 2 },
        { child: 2, parent: 3 },
        { child: 5, parent: 6 },
        { child: 6, parent: 5 },
      ],
    );
    const order = [...rank].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    expect(order.indexOf(3)).toBeLessThan(order.indexOf(2));
    expect(order.indexOf(2)).toBeLessThan(order.indexOf(1));
    expect(order.slice(-2).sort()).toEqual([5, 6]);
  });
});
