import { describe, expect, it } from "vitest";
import { baseTypeName, copyFormat } from "../../src/copy/copy-format.js";
import { afterMessage, FrameScanner } from "../../src/copy/copy-frames.js";

function message(code: string, body: Buffer | string): Buffer {
  const b = typeof body === "string" ? Buffer.from(body) : body;
  const head = Buffer.alloc(5);
  head[0] = code.charCodeAt(0);
  head.writeUInt32BE(b.length + 4, 1);
  return Buffer.concat([head, b]);
}

/** What a server sends for a COPY TO: CopyOutResponse, rows with a notice among them, CopyDone, then the end of the command. */
function copyOut(rows: string[]): { wire: Buffer; data: Buffer; tail: Buffer; payload: number } {
  const dataMessages = rows.map((r) => message("d", r));
  const notice = message("N", "SNOTICE\0Msomething\0\0");
  const tail = Buffer.concat([message("C", "COPY 3\0"), message("Z", "I")]);
  const wire = Buffer.concat([
    message("H", Buffer.from([0, 0, 0])),
    dataMessages[0]!,
    notice,
    ...dataMessages.slice(1),
    message("c", ""),
    tail,
  ]);
  return {
    wire,
    data: Buffer.concat(dataMessages),
    tail,
    payload: rows.reduce((a, r) => a + Buffer.byteLength(r), 0),
  };
}

/** Feeds `wire` to a scanner in pieces cut at `cuts`; collects what it passes on. */
function scanInPieces(wire: Buffer, cuts: number[]) {
  const scanner = new FrameScanner();
  const frames: Buffer[] = [];
  let payload = 0;
  let end: { code: number; rest: Buffer } | undefined;
  let from = 0;
  for (const to of [...cuts, wire.length]) {
    if (end) break;
    const r = scanner.scan(wire.subarray(from, to));
    frames.push(...r.frames);
    payload += r.payload;
    end = r.end;
    from = to;
  }
  // Whatever was not scanned after the end belongs to the client too.
  const rest = end ? Buffer.concat([end.rest, wire.subarray(from)]) : Buffer.alloc(0);
  return { data: Buffer.concat(frames), payload, end, rest };
}

describe("FrameScanner", () => {
  const { wire, data, tail, payload } = copyOut(["1\tone\n", "", "22\ttwo\t\\N\n", "x".repeat(300)]);

  it("passes every CopyData message on whole and nothing else, however the bytes are cut", () => {
    for (let a = 0; a <= wire.length; a++) {
      for (const b of [a, a + 1, a + 3, a + 7]) {
        const cuts = [a, Math.min(b, wire.length)].filter((c, i, all) => c > 0 && all.indexOf(c) === i);
        const got = scanInPieces(wire, cuts);
        expect(got.data.equals(data), `cut at ${cuts.join(",")}`).toBe(true);
        expect(got.payload).toBe(payload);
        expect(got.end?.code).toBe("c".charCodeAt(0));
        expect(afterMessage(got.rest).equals(tail), `cut at ${cuts.join(",")}`).toBe(true);
      }
    }
  });

  it("stops at an ErrorResponse and hands it back from its first byte", () => {
    const error = message("E", "SERROR\0C22P03\0Mbad\0\0");
    const stream = Buffer.concat([message("d", "row\n"), error, message("Z", "E")]);
    for (let cut = 1; cut < stream.length; cut++) {
      const got = scanInPieces(stream, [cut]);
      expect(got.end?.code).toBe("E".charCodeAt(0));
      expect(got.rest.equals(stream.subarray(message("d", "row\n").length))).toBe(true);
    }
  });

  it("passes a one-buffer COPY as a single slice of that buffer", () => {
    const scanner = new FrameScanner();
    const rows = Buffer.concat([message("d", "a\n"), message("d", "b\n"), message("d", "c\n")]);
    const r = scanner.scan(rows);
    expect(r.frames).toHaveLength(1);
    expect(r.frames[0]!.buffer).toBe(rows.buffer);
    expect(r.payload).toBe(6);
  });
});

describe("copyFormat", () => {
  it("reads the base type out of format_type's spelling", () => {
    expect(baseTypeName("numeric(12,2)[]")).toBe("numeric");
    expect(baseTypeName("timestamp(3) with time zone")).toBe("timestamp with time zone");
    expect(baseTypeName("time(0) without time zone[]")).toBe("time without time zone");
    expect(baseTypeName("interval day to second(3)")).toBe("interval");
    expect(baseTypeName("interval year to month")).toBe("interval");
    expect(baseTypeName("character varying(20)")).toBe("character varying");
    expect(baseTypeName("bit varying(5)")).toBe("bit varying");
    expect(baseTypeName('"char"')).toBe('"char"');
  });

  it("is binary only when every column is a built-in type with a stable binary form", () => {
    const cols = (...types: string[]) => types.map((type) => ({ type }));
    expect(
      copyFormat(cols("integer", "text", "jsonb", "numeric(12,2)", "uuid", "timestamp with time zone")),
    ).toBe("binary");
    expect(copyFormat(cols("integer[]", "character varying(10)[]", "tstzrange", "bytea"))).toBe("binary");
    // Enums, domains, composites and extension types (unqualified when on the search path).
    expect(copyFormat(cols("integer", "mood"))).toBe("text");
    expect(copyFormat(cols("integer", "public.mood[]"))).toBe("text");
    expect(copyFormat(cols("integer", "posint"))).toBe("text");
    expect(copyFormat(cols("integer", "citext"))).toBe("text");
    // OIDs in the binary form name different objects on another server.
    expect(copyFormat(cols("integer", "regclass"))).toBe("text");
    expect(copyFormat(cols("integer", "regtype[]"))).toBe("text");
    // Quoted: a user type that a built-in name would otherwise hide.
    expect(copyFormat(cols("integer", 'public."integer"'))).toBe("text");
    expect(copyFormat([])).toBe("text");
  });
});
