/**
 * The incremental parser of the transmission phase's input: request headers (request.ts, or
 * extended-request.ts once extended headers are negotiated) and request payloads. Explicit
 * states:
 *
 *     header --28/32 bytes--> (WRITE, 0 < length <= cap) payload --length bytes--> header
 *        |                    (WRITE, length > cap)      skip    --length bytes--> header
 *        |                    (other, PAYLOAD_LEN)       skip    --length bytes--> header
 *        +--> (any other command) header
 *
 * "Never trust a length": a write's length is checked against `maxPayload` before any of its
 * payload is buffered. A longer write (or, with extended headers, any other command that says it
 * carries a payload with NBD_CMD_FLAG_PAYLOAD_LEN, which this server does not take) is reported at
 * once as `skipped-payload` (the server answers NBD_EINVAL) and its payload is consumed without
 * being buffered, so the next request still parses: nbdkit's rule that a rejected write still
 * consumes its payload. Only a bad magic, or a payload length too large to count (2^53 bytes or
 * more), makes the stream untrustworthy: they throw NbdProtocolError.
 *
 * Nothing returned refers to a pushed chunk: a payload is copied into a buffer of the write-buffer
 * pool (`pooled`: given back once the write has settled), so the socket reader may reuse its
 * staging buffer (util/socket-input.ts; `own` copies a partly received request after each read).
 * The rest of a large payload (DIRECT_MIN bytes or more still to come) is read straight into the
 * payload's own buffer instead: `directTarget` names it, `directReceived` counts what landed.
 */
import { takeWriteBuffer } from '../block/index.js';
import { ByteQueue } from '../util/index.js';
import { NBD_CMD, NBD_CMD_FLAG } from './constants.js';
import { NbdProtocolError } from './errors.js';
import { decodeExtendedRequest, EXTENDED_REQUEST_SIZE } from './extended-request.js';
import { decodeRequest, REQUEST_SIZE, type RequestHeader } from './request.js';

export type ParsedRequest =
  | {
      kind: 'request';
      header: RequestHeader;
      payload: Buffer | undefined;
      /** The payload came from block/write-buffers.ts: give it back once the write has settled. */
      pooled?: boolean;
    }
  | { kind: 'skipped-payload'; header: RequestHeader };

type State =
  | { s: 'header' }
  | { s: 'payload'; header: RequestHeader; buf: Buffer | undefined; filled: number }
  | { s: 'skip'; left: number };

/** A payload with fewer bytes than this still to come is read through the staging buffer. */
const DIRECT_MIN = 64 * 1024;

export class RequestParser {
  private readonly q = new ByteQueue();
  private state: State = { s: 'header' };
  private readonly maxPayload: number;
  private readonly extended: boolean;
  private readonly headerSize: number;

  constructor(opts: { maxPayload: number; extended?: boolean }) {
    this.maxPayload = opts.maxPayload;
    this.extended = opts.extended ?? false;
    this.headerSize = this.extended ? EXTENDED_REQUEST_SIZE : REQUEST_SIZE;
  }

  push(chunk: Buffer): void {
    this.q.push(chunk);
  }

  /** Stops referring to pushed chunks (copies what is still queued): after each read. */
  own(): void {
    this.q.own();
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    const st = this.state;
    return this.q.length + (st.s === 'payload' && st.buf ? st.filled : 0);
  }

  /** True between requests: no header or payload is partly received. */
  get idle(): boolean {
    return this.state.s === 'header' && this.q.length === 0;
  }

  /**
   * Where the next bytes read should go when they all belong to a large payload: the unfilled
   * rest of the payload's buffer (what was queued is moved into it first). Undefined otherwise.
   */
  directTarget(): Buffer | undefined {
    const st = this.state;
    if (st.s !== 'payload') return undefined;
    if (!st.buf) {
      if (st.header.length - this.q.length < DIRECT_MIN) return undefined;
      st.buf = takeWriteBuffer(st.header.length);
      st.filled = this.q.length;
      this.q.copyInto(st.buf, 0, st.filled);
    }
    return st.buf.subarray(st.filled);
  }

  /**
   * `n` bytes landed at the start of the buffer `directTarget` returned last. Returns false (and
   * counts nothing) when the parser no longer waits for them.
   */
  directReceived(n: number): boolean {
    const st = this.state;
    if (st.s !== 'payload' || !st.buf) return false;
    if (st.filled + n > st.buf.length) throw new RangeError(`${n} bytes received past the end of a payload`);
    st.filled += n;
    return true;
  }

  /** The next complete request, or undefined until more bytes arrive. */
  next(): ParsedRequest | undefined {
    for (;;) {
      const st = this.state;
      switch (st.s) {
        case 'header': {
          if (this.q.length < this.headerSize) return undefined;
          const raw = this.q.take(this.headerSize);
          const header = this.extended ? decodeExtendedRequest(raw) : decodeRequest(raw);
          const write = header.type === NBD_CMD.WRITE;
          const payload = write || (this.extended && (header.flags & NBD_CMD_FLAG.PAYLOAD_LEN) !== 0);
          if (!payload || header.length === 0) {
            return { kind: 'request', header, payload: undefined };
          }
          if (!write || header.length > this.maxPayload) {
            if (!Number.isSafeInteger(header.length)) {
              throw new NbdProtocolError('TOO_LARGE', `a request payload of ${header.length} bytes`);
            }
            this.state = { s: 'skip', left: header.length };
            return { kind: 'skipped-payload', header };
          }
          this.state = { s: 'payload', header, buf: undefined, filled: 0 };
          continue;
        }
        case 'payload': {
          if (st.buf) {
            if (st.filled < st.buf.length) return undefined;
            this.state = { s: 'header' };
            return { kind: 'request', header: st.header, payload: st.buf, pooled: true };
          }
          if (this.q.length < st.header.length) return undefined;
          this.state = { s: 'header' };
          // A copy: the received chunks may be a staging buffer that the next read overwrites.
          const payload = takeWriteBuffer(st.header.length);
          this.q.copyInto(payload, 0, payload.length);
          return { kind: 'request', header: st.header, payload, pooled: true };
        }
        case 'skip': {
          st.left -= this.q.skip(st.left);
          if (st.left > 0) return undefined;
          this.state = { s: 'header' };
          continue;
        }
      }
    }
  }
}
