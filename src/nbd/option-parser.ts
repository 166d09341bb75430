/**
 * The incremental parser of the negotiation phase's input: the client flags, then option
 * requests, one at a time (option-request.ts). Explicit states:
 *
 *     client-flags --4 bytes--> option-header --16 bytes--> option-data --length--> option-header
 *                                     |                                                ^
 *                                     +-- length > cap --> skip --length bytes---------+
 *
 * "Never trust a length": an option's length is checked against `maxOptionData` before a byte of
 * its data is buffered. A longer option is skipped without buffering (its bytes are counted and
 * dropped) and reported as `too-big`, so the negotiation can answer it (NBD_REP_ERR_TOO_BIG) and
 * go on: the stream stays in sync. A bad magic throws NbdProtocolError (drop the connection).
 */
import { ByteQueue } from '../util/index.js';
import { CLIENT_FLAGS_SIZE, decodeClientFlags, type ClientFlags } from './client-flags.js';
import { decodeOptionHeader, OPTION_HEADER_SIZE } from './option-request.js';

export type NegotiationInput =
  | { kind: 'client-flags'; flags: ClientFlags }
  | { kind: 'option'; option: number; data: Buffer }
  | { kind: 'too-big'; option: number; length: number };

type State =
  | { s: 'client-flags' }
  | { s: 'option-header' }
  | { s: 'option-data'; option: number; length: number }
  | { s: 'skip'; option: number; length: number; left: number };

/** The default cap on one option's data: names and queries are at most 4096 bytes each. */
export const MAX_OPTION_DATA = 64 * 1024;

export class OptionParser {
  private readonly q = new ByteQueue();
  private state: State = { s: 'client-flags' };
  private readonly maxOptionData: number;

  constructor(opts: { maxOptionData?: number } = {}) {
    this.maxOptionData = opts.maxOptionData ?? MAX_OPTION_DATA;
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
    return this.q.length;
  }

  /** Hands over the unconsumed bytes (the first bytes of the transmission phase). */
  drain(): Buffer {
    return this.q.takeCopy(this.q.length);
  }

  /** The next complete input, or undefined until more bytes arrive. */
  next(): NegotiationInput | undefined {
    for (;;) {
      const st = this.state;
      switch (st.s) {
        case 'client-flags': {
          if (this.q.length < CLIENT_FLAGS_SIZE) return undefined;
          this.state = { s: 'option-header' };
          return { kind: 'client-flags', flags: decodeClientFlags(this.q.take(CLIENT_FLAGS_SIZE)) };
        }
        case 'option-header': {
          if (this.q.length < OPTION_HEADER_SIZE) return undefined;
          const h = decodeOptionHeader(this.q.take(OPTION_HEADER_SIZE));
          this.state =
            h.length > this.maxOptionData
              ? { s: 'skip', option: h.option, length: h.length, left: h.length }
              : { s: 'option-data', option: h.option, length: h.length };
          continue;
        }
        case 'option-data': {
          if (this.q.length < st.length) return undefined;
          this.state = { s: 'option-header' };
          return { kind: 'option', option: st.option, data: this.q.takeCopy(st.length) };
        }
        case 'skip': {
          st.left -= this.q.skip(st.left);
          if (st.left > 0) return undefined;
          this.state = { s: 'option-header' };
          return { kind: 'too-big', option: st.option, length: st.length };
        }
      }
    }
  }
}
