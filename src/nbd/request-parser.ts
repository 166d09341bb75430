/**
 * The incremental parser of the transmission phase's input: request headers (request.ts) and the
 * payloads of NBD_CMD_WRITE. Explicit states:
 *
 *     header --28 bytes--> (WRITE, 0 < length <= cap) payload --length bytes--> header
 *        |                 (WRITE, length > cap)      skip    --length bytes--> header
 *        +--> (any other command) header
 *
 * "Never trust a length": a write's length is checked against `maxPayload` before any of its
 * payload is buffered. A longer write is reported at once as `oversized-write` (the server
 * answers NBD_EINVAL) and its payload is consumed without being buffered, so the next request
 * still parses: nbdkit's rule that a rejected write still consumes its payload. Only the
 * magic can make the stream untrustworthy: a bad one throws NbdProtocolError.
 *
 * A payload inside one received chunk is handed over as a view of that chunk (no copy).
 */
import { ByteQueue } from './byte-queue.js';
import { NBD_CMD } from './constants.js';
import { decodeRequest, REQUEST_SIZE, type RequestHeader } from './request.js';

export type ParsedRequest =
  | { kind: 'request'; header: RequestHeader; payload: Buffer | undefined }
  | { kind: 'oversized-write'; header: RequestHeader };

type State = { s: 'header' } | { s: 'payload'; header: RequestHeader } | { s: 'skip'; left: number };

export class RequestParser {
  private readonly q = new ByteQueue();
  private state: State = { s: 'header' };
  private readonly maxPayload: number;

  constructor(opts: { maxPayload: number }) {
    this.maxPayload = opts.maxPayload;
  }

  push(chunk: Buffer): void {
    this.q.push(chunk);
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.q.length;
  }

  /** True between requests: no header or payload is partly received. */
  get idle(): boolean {
    return this.state.s === 'header' && this.q.length === 0;
  }

  /** The next complete request, or undefined until more bytes arrive. */
  next(): ParsedRequest | undefined {
    for (;;) {
      const st = this.state;
      switch (st.s) {
        case 'header': {
          if (this.q.length < REQUEST_SIZE) return undefined;
          const header = decodeRequest(this.q.take(REQUEST_SIZE));
          if (header.type !== NBD_CMD.WRITE || header.length === 0) {
            return { kind: 'request', header, payload: undefined };
          }
          if (header.length > this.maxPayload) {
            this.state = { s: 'skip', left: header.length };
            return { kind: 'oversized-write', header };
          }
          this.state = { s: 'payload', header };
          continue;
        }
        case 'payload': {
          if (this.q.length < st.header.length) return undefined;
          this.state = { s: 'header' };
          return { kind: 'request', header: st.header, payload: this.q.take(st.header.length) };
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
