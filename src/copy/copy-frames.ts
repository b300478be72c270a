/**
 * Finds the CopyData messages in the bytes a server sends during COPY … TO STDOUT, without
 * copying them: what it returns are slices of the buffers it was given, frames (type byte and
 * length) included, ready to be written to a session in COPY … FROM STDIN as they are — the
 * CopyData message is the same in both directions. Per row it reads a five-byte header and
 * skips the payload; a header split between two buffers is the only thing it copies.
 */

export const COPY_DATA = 0x64; // 'd'
export const COPY_DONE = 0x63; // 'c'
export const ERROR_RESPONSE = 0x45; // 'E'
/** Messages a server may send before or among the rows: skipped, never passed on. */
const SKIPPED = new Set([
  0x48, // 'H' CopyOutResponse
  0x4e, // 'N' NoticeResponse
  0x53, // 'S' ParameterStatus
  0x41, // 'A' NotificationResponse
]);
const HEADER = 5;

export interface Scanned {
  /** CopyData bytes, frames included, in order. */
  frames: Buffer[];
  /** Bytes of row data among them (the payloads, without frames). */
  payload: number;
  /**
   * The first message that is neither CopyData nor skippable (CopyDone, ErrorResponse, or
   * anything unexpected): its type, and every byte from its header on, which belong to the
   * client's own protocol handling again. Nothing after it was scanned.
   */
  end?: { code: number; rest: Buffer };
}

export class FrameScanner {
  /** Bytes of the current message's body still to come (0: at a message boundary). */
  private left = 0;
  /** The current message is CopyData (its body is passed on). */
  private passing = false;
  private readonly head = Buffer.alloc(HEADER);
  private headLen = 0;

  scan(chunk: Buffer): Scanned {
    const frames: Buffer[] = [];
    let payload = 0;
    let runStart = -1;
    let pos = 0;
    const endRun = (at: number) => {
      if (runStart >= 0 && at > runStart) frames.push(chunk.subarray(runStart, at));
      runStart = -1;
    };
    while (pos < chunk.length) {
      if (this.left > 0) {
        const n = Math.min(this.left, chunk.length - pos);
        if (this.passing) {
          if (runStart < 0) runStart = pos;
          payload += n;
        }
        pos += n;
        this.left -= n;
        continue;
      }
      let code: number;
      let length: number;
      // Where the header starts in `chunk`; -1 when it came split over two buffers (in `head`).
      let headerAt: number;
      if (this.headLen === 0 && chunk.length - pos >= HEADER) {
        headerAt = pos;
        code = chunk[pos]!;
        length = chunk.readUInt32BE(pos + 1);
        pos += HEADER;
      } else {
        endRun(pos);
        const n = Math.min(HEADER - this.headLen, chunk.length - pos);
        chunk.copy(this.head, this.headLen, pos, pos + n);
        this.headLen += n;
        pos += n;
        if (this.headLen < HEADER) break;
        this.headLen = 0;
        headerAt = -1;
        code = this.head[0]!;
        length = this.head.readUInt32BE(1);
      }
      if (code === COPY_DATA) {
        if (headerAt >= 0) {
          if (runStart < 0) runStart = headerAt;
        } else frames.push(Buffer.from(this.head));
        this.passing = true;
        this.left = length - 4;
        continue;
      }
      endRun(headerAt >= 0 ? headerAt : pos);
      this.passing = false;
      if (SKIPPED.has(code)) {
        this.left = length - 4;
        continue;
      }
      const rest = headerAt >= 0 ? chunk.subarray(headerAt) : Buffer.concat([this.head, chunk.subarray(pos)]);
      return { frames, payload, end: { code, rest } };
    }
    endRun(pos);
    return { frames, payload };
  }
}

/** The bytes after the message that `rest` starts with. */
export function afterMessage(rest: Buffer): Buffer {
  return rest.subarray(1 + rest.readUInt32BE(1));
}
