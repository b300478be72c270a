import { Readable, Writable } from "node:stream";
import { afterMessage, COPY_DONE, ERROR_RESPONSE, FrameScanner } from "./copy-frames.js";
import type { RateLimiter } from "./throttle.js";

/**
 * The two ends of a server-to-server COPY that hand the source's CopyData messages to the
 * target as they came, frames included: the protocol's CopyData message is the same in both
 * directions, so nothing is unwrapped, copied, re-wrapped or parsed per row (pg-copy-streams
 * does all four, and that and the garbage it leaves were most of pgferry's client CPU in the
 * copy: benchmarks.md). What passes is slices of the buffers the socket delivered.
 *
 * Both ends are node-postgres "submittables" (client.query(x) calls x.submit(connection)), as
 * pg-copy-streams' are; the source end takes the socket over from node-postgres' parser for
 * the length of the COPY, exactly as pg-copy-streams' COPY TO does, and hands it back at
 * CopyDone or an ErrorResponse.
 */

const COPY_DONE_MESSAGE = Buffer.from([COPY_DONE, 0, 0, 0, 4]);

/** The internals of node-postgres' Connection that a submittable uses (stable across pg 8). */
interface PgConnection {
  stream: import("node:net").Socket;
  query(text: string): void;
  sendCopyFail(message: string): void;
}

export interface CopyOutOptions {
  /** Bytes buffered ahead of a slower target before the source socket is paused. */
  highWaterMark?: number;
  limiter?: RateLimiter;
  signal?: AbortSignal;
  /** Row bytes (message payloads) as they pass, for live progress. */
  onBytes?: (n: number) => void;
}

/**
 * COPY … TO STDOUT, read as framed CopyData messages: every buffer it emits is a whole number
 * of bytes of CopyData messages (header and payload, possibly split anywhere), ready to be
 * written to a session in COPY … FROM STDIN as is.
 */
export class CopyOutFrames extends Readable {
  /** Payload bytes of the CopyData messages passed on (the COPY data itself, without frames). */
  bytes = 0;
  private connection: PgConnection | undefined;
  private pgDataHandler: ((b: Buffer) => void) | undefined;
  private readonly onReadable = () => this.forward();
  private readonly scanner = new FrameScanner();
  private wanted = false;
  private forwarding = false;
  private throttled = false;
  private finished = false;

  constructor(
    readonly text: string,
    private readonly opts: CopyOutOptions = {},
  ) {
    super({ highWaterMark: opts.highWaterMark ?? 256 * 1024 });
  }

  submit(conn: unknown): void {
    const connection = conn as PgConnection;
    this.connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners("data") as ((b: Buffer) => void)[];
    if (listeners.length !== 1) throw new Error("COPY TO: the connection's socket has other readers");
    this.pgDataHandler = listeners[0];
    stream.removeListener("data", this.pgDataHandler!);
    stream.pause();
    stream.on("readable", this.onReadable);
    connection.query(this.text);
    this.forward();
  }

  override _read(): void {
    this.wanted = true;
    this.forward();
  }

  private forward(): void {
    if (this.forwarding || !this.wanted || this.throttled || this.finished || !this.connection) return;
    this.forwarding = true;
    try {
      const stream = this.connection.stream;
      while (this.wanted && !this.throttled && !this.finished) {
        const chunk = stream.read() as Buffer | null;
        if (chunk === null) break;
        this.parse(chunk);
      }
    } finally {
      this.forwarding = false;
    }
  }

  /** Passes one socket buffer's CopyData bytes on, as slices of it. */
  private parse(chunk: Buffer): void {
    const { frames, payload, end } = this.scanner.scan(chunk);
    if (!end) {
      this.emitData(frames, payload);
      return;
    }
    // CopyDone ends the data; an ErrorResponse or anything unexpected ends it too. From that
    // message on the bytes go back to node-postgres, which reports the error, or the
    // command's completion, to this query.
    this.finished = true;
    if (end.code === COPY_DONE) {
      this.emitData(frames, payload);
      this.detach(afterMessage(end.rest));
      this.push(null);
      return;
    }
    this.detach(end.rest);
    // An ErrorResponse reaches handleError through node-postgres.
    if (end.code !== ERROR_RESPONSE)
      this.destroy(new Error(`COPY TO: unexpected protocol message '${String.fromCharCode(end.code)}'`));
  }

  private emitData(out: Buffer[], payload: number): void {
    if (out.length === 0) return;
    this.bytes += payload;
    this.opts.onBytes?.(payload);
    for (const b of out) this.wanted = this.push(b) && this.wanted;
    const limiter = this.opts.limiter;
    if (limiter && payload > 0) {
      this.throttled = true;
      limiter.take(payload, this.opts.signal).then(
        () => {
          this.throttled = false;
          this.forward();
        },
        (err: Error) => this.destroy(err),
      );
    }
  }

  private detach(unread: Buffer): void {
    const connection = this.connection!;
    const stream = connection.stream;
    stream.removeListener("readable", this.onReadable);
    stream.on("data", this.pgDataHandler!);
    if (unread.length > 0) this.pgDataHandler!(unread);
    // As pg-copy-streams: resume on the next tick, once node-postgres' own handler has run.
    process.nextTick(() => stream.resume());
  }

  /**
   * Destroyed before CopyDone (the target failed, or the copy was stopped): the rest of the
   * COPY is still coming and no message boundary is in sight to hand the socket back at, so the
   * session is closed. The worker drops its sessions after any failed chunk anyway.
   */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.finished && this.connection) {
      this.finished = true;
      const stream = this.connection.stream;
      stream.removeListener("readable", this.onReadable);
      stream.destroy();
    }
    cb(err);
  }

  // node-postgres calls these on the active query.
  handleError(err: Error): void {
    this.finished = true;
    this.destroy(err);
  }
  handleCommandComplete(): void {}
  handleReadyForQuery(): void {}
}

/**
 * COPY … FROM STDIN fed with framed CopyData bytes (from CopyOutFrames): written to the
 * socket as they are. Ends with CopyDone; destroyed, it sends CopyFail, so the server rolls
 * the COPY back.
 */
export class CopyInFrames extends Writable {
  rowCount = 0;
  /**
   * Named as pg-copy-streams names it: the stall watchdog (db/watchdog.ts) reads it to tell a
   * COPY in waiting for its feeder from one waiting for its server.
   */
  _gotCopyInResponse = false;
  private connection: PgConnection | undefined;
  private pending: (() => void) | undefined;
  private onReady: ((err?: Error | null) => void) | undefined;
  /** The server answered (ReadyForQuery or an error): nothing is left to abort. */
  private over = false;
  /** Completes a destroy that waits for the server's answer to CopyFail. */
  private onDestroyed: ((serverError?: Error) => void) | undefined;

  constructor(
    readonly text: string,
    highWaterMark = 256 * 1024,
  ) {
    super({ highWaterMark });
  }

  submit(conn: unknown): void {
    this.connection = conn as PgConnection;
    this.connection.query(this.text);
  }

  /** node-postgres replaces it with its query_timeout mechanism when that is set. */
  callback(): void {}

  private whenReady(go: () => void): void {
    if (this._gotCopyInResponse) go();
    else this.pending = go;
  }

  private send(chunks: readonly Buffer[], cb: (err?: Error | null) => void): void {
    this.whenReady(() => {
      const stream = this.connection!.stream;
      let ok = true;
      if (chunks.length > 1) stream.cork();
      for (const c of chunks) ok = stream.write(c);
      if (chunks.length > 1) stream.uncork();
      if (ok) cb();
      else stream.once("drain", () => cb());
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.send(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.whenReady(() => {
      this.onReady = cb;
      this.connection!.stream.write(COPY_DONE_MESSAGE);
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const connection = this.connection;
    // Already over (answered, or failed on the server's side): nothing to abort.
    if (!connection || this.over) {
      cb(err);
      return;
    }
    this.onDestroyed = (serverError) => cb(err ?? serverError);
    this.whenReady(() => connection.sendCopyFail(err?.message ?? "COPY aborted"));
  }

  handleCopyInResponse(): void {
    this._gotCopyInResponse = true;
    const go = this.pending;
    this.pending = undefined;
    go?.();
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /COPY (\d+)/.exec(msg?.text ?? "");
    if (m) this.rowCount = Number(m[1]);
  }

  handleReadyForQuery(): void {
    this.callback();
    this.over = true;
    this.connection = undefined;
    const final = this.onReady;
    const destroyed = this.onDestroyed;
    this.onReady = undefined;
    this.onDestroyed = undefined;
    final?.();
    // Destroyed after CopyDone went out: the server ignores the CopyFail and completes the
    // COPY (it is rolled back with the chunk's transaction); the destroy is over too.
    destroyed?.();
  }

  handleError(err: Error): void {
    this.callback();
    this.over = true;
    this.connection = undefined;
    const destroyed = this.onDestroyed;
    this.onDestroyed = undefined;
    if (destroyed) destroyed(err);
    else this.destroy(err);
  }
}
