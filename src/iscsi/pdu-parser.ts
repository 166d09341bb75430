/**
 * The incremental PDU parser (RFC 7143 §11.1 "iSCSI PDU Format"):
 *
 *     BHS (48) | AHS (TotalAHSLength*4) | HeaderDigest (4)? | Data (DSL) | pad to 4 | DataDigest (4)?
 *
 * Explicit states:
 *
 *     header --48 bytes + AHS + digest--> (DSL <= cap) data --DSL+pad+digest--> header
 *        |                                (DSL > cap)  skip --DSL+pad+digest--> header
 *        +--> (DSL = 0) header
 *
 * "Never trust a length": TotalAHSLength is at most 1020 bytes by its width, and DataSegmentLength
 * (at most 2^24 - 1) is checked against `maxDataSegmentLength` (the MaxRecvDataSegmentLength we
 * declared; 8192 during login, RFC 7143 §13.12) before any of it is buffered. A longer segment is
 * reported as `oversized` and skipped without being buffered, so the connection can answer it in
 * the protocol's terms (a Reject) and decide whether to go on.
 *
 * Digests (RFC 7143 §13.1): a header digest mismatch throws (the lengths in that header cannot
 * be trusted, so nothing after it can be framed: the connection is dropped, §7.8). A data digest
 * mismatch is reported on the PDU (`dataDigestError`): the framing is intact, and the connection
 * answers with a Reject (reason 0x02). Both digests are CRC32C, sent least significant byte
 * first; the data digest covers the data and its padding.
 *
 * A data segment inside one received chunk is handed over as a view of that chunk.
 */
import { ByteQueue, crc32c } from '../util/index.js';
import { BHS_SIZE, bhsDataSegmentLength, padLength } from './bhs.js';
import { IscsiProtocolError } from './errors.js';

export type ParsedPdu =
  | {
      kind: 'pdu';
      bhs: Buffer;
      /** The AHS area (TotalAHSLength bytes; empty when there is none). */
      ahs: Buffer;
      /** The data segment without padding. */
      data: Buffer;
      dataDigestError: boolean;
    }
  | { kind: 'oversized'; bhs: Buffer; dataSegmentLength: number };

type State =
  { s: 'header' } | { s: 'data'; bhs: Buffer; ahs: Buffer; dsl: number } | { s: 'skip'; left: number };

export interface ParserSettings {
  headerDigest: boolean;
  dataDigest: boolean;
  maxDataSegmentLength: number;
}

const EMPTY = Buffer.alloc(0);

export class PduParser {
  private readonly q = new ByteQueue();
  private state: State = { s: 'header' };
  settings: ParserSettings;
  /**
   * Where a data segment that straddles socket chunks should land (a Data-Out's place in its
   * command's buffer), or undefined to have it copied into a fresh buffer as usual. Called with
   * the BHS and the segment length; a returned buffer is exactly that long.
   */
  placer: ((bhs: Buffer, length: number) => Buffer | undefined) | undefined;

  constructor(settings: ParserSettings) {
    this.settings = { ...settings };
  }

  push(chunk: Buffer): void {
    this.q.push(chunk);
  }

  /** Received bytes not yet consumed (the per-connection memory the parser holds). */
  get buffered(): number {
    return this.q.length;
  }

  /** True between PDUs. */
  get idle(): boolean {
    return this.state.s === 'header' && this.q.length === 0;
  }

  clear(): void {
    this.q.clear();
    this.state = { s: 'header' };
  }

  /** The next complete PDU, or undefined until more bytes arrive. */
  next(): ParsedPdu | undefined {
    for (;;) {
      const st = this.state;
      switch (st.s) {
        case 'header': {
          if (this.q.length < BHS_SIZE) return undefined;
          // TotalAHSLength (BHS byte 4) and the digest decide how many bytes the header needs;
          // nothing is taken before they are all there.
          const ahsLen = this.q.byteAt(4) * 4;
          const hd = this.settings.headerDigest ? 4 : 0;
          if (this.q.length < BHS_SIZE + ahsLen + hd) return undefined;
          const header = this.q.take(BHS_SIZE + ahsLen);
          if (hd) {
            const got = this.q.take(4).readUInt32LE(0);
            const want = crc32c(header);
            if (got !== want) {
              throw new IscsiProtocolError(
                'HEADER_DIGEST',
                `header digest 0x${got.toString(16)} where the header's CRC32C is 0x${want.toString(16)}`,
              );
            }
          }
          const bhs = header.subarray(0, BHS_SIZE);
          const ahs = ahsLen ? header.subarray(BHS_SIZE) : EMPTY;
          const dsl = bhsDataSegmentLength(bhs);
          if (dsl === 0) return { kind: 'pdu', bhs, ahs, data: EMPTY, dataDigestError: false };
          if (dsl > this.settings.maxDataSegmentLength) {
            this.state = { s: 'skip', left: dsl + padLength(dsl) + (this.settings.dataDigest ? 4 : 0) };
            return { kind: 'oversized', bhs, dataSegmentLength: dsl };
          }
          this.state = { s: 'data', bhs, ahs, dsl };
          continue;
        }
        case 'data': {
          const padded = st.dsl + padLength(st.dsl);
          const dd = this.settings.dataDigest ? 4 : 0;
          if (this.q.length < padded + dd) return undefined;
          // A segment that straddles socket chunks would be copied twice (into a fresh buffer
          // here, then into its command's buffer): the placer may name its final place instead.
          const place = this.q.contiguous(padded) ? undefined : this.placer?.(st.bhs, st.dsl);
          if (place && place.length === st.dsl) {
            this.q.copyInto(place, 0, st.dsl);
            const pad = this.q.take(padded - st.dsl);
            let dataDigestError = false;
            if (dd) dataDigestError = this.q.take(4).readUInt32LE(0) !== crc32c(pad, crc32c(place));
            this.state = { s: 'header' };
            return { kind: 'pdu', bhs: st.bhs, ahs: st.ahs, data: place, dataDigestError };
          }
          const seg = this.q.take(padded);
          let dataDigestError = false;
          if (dd) dataDigestError = this.q.take(4).readUInt32LE(0) !== crc32c(seg);
          this.state = { s: 'header' };
          return { kind: 'pdu', bhs: st.bhs, ahs: st.ahs, data: seg.subarray(0, st.dsl), dataDigestError };
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
