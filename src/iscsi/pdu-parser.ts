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
 * Nothing returned refers to a pushed chunk, so that the socket reader may reuse its staging
 * buffer (util/socket-input.ts; `own` copies a partly received PDU after each read): headers are
 * copied, and a data segment lands in its place (the placer's), or in a buffer of the
 * write-buffer pool (`pooled`). The rest of a large data segment (DIRECT_MIN bytes or more still
 * to come) can be read straight into that buffer (util/socket-input.ts): `directTarget` names it
 * (a Data-Out's place is pinned in block/write-buffers.ts while reads may land there),
 * `directReceived` counts what landed; padding and digest come through the queue as usual.
 */
import { pinWriteBuffer, takeWriteBuffer, unpinWriteBuffer } from '../block/index.js';
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
      /** `data` came from block/write-buffers.ts: whoever keeps it may give it back when done. */
      pooled?: boolean;
    }
  | { kind: 'oversized'; bhs: Buffer; dataSegmentLength: number };

type State =
  | { s: 'header' }
  | {
      s: 'data';
      bhs: Buffer;
      ahs: Buffer;
      dsl: number;
      /** The segment's buffer once reads go straight into it, and how much of it has arrived. */
      direct: Buffer | undefined;
      /** `direct` came from the write-buffer pool (not from the placer). */
      directPooled: boolean;
      filled: number;
    }
  | { s: 'skip'; left: number };

/** A segment with fewer bytes than this still to come is read through the queue. */
const DIRECT_MIN = 64 * 1024;

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

  /** Stops referring to pushed chunks (copies what is still queued): after each read. */
  own(): void {
    this.q.own();
  }

  /** Received bytes not yet consumed (the per-connection memory the parser holds). */
  get buffered(): number {
    const st = this.state;
    return this.q.length + (st.s === 'data' && st.direct ? st.filled : 0);
  }

  /** True between PDUs. */
  get idle(): boolean {
    return this.state.s === 'header' && this.q.length === 0;
  }

  clear(): void {
    // A direct target stays pinned: one more read may still land in it.
    this.q.clear();
    this.state = { s: 'header' };
  }

  /**
   * Where the next bytes read should go when they all belong to a large data segment: the unfilled
   * rest of its place (what was queued is moved there first). Undefined otherwise.
   */
  directTarget(): Buffer | undefined {
    const st = this.state;
    if (st.s !== 'data') return undefined;
    if (!st.direct) {
      if (st.dsl - this.q.length < DIRECT_MIN) return undefined;
      const seg = this.segmentBuffer(st);
      st.direct = seg.data;
      st.directPooled = seg.pooled;
      pinWriteBuffer(st.direct);
      st.filled = this.q.length;
      this.q.copyInto(st.direct, 0, st.filled);
    }
    return st.filled < st.dsl ? st.direct.subarray(st.filled) : undefined;
  }

  /**
   * `n` bytes landed at the start of the buffer `directTarget` returned last. Returns false (and
   * counts nothing) when the parser no longer waits for them (it was cleared meanwhile).
   */
  directReceived(n: number): boolean {
    const st = this.state;
    if (st.s !== 'data' || !st.direct) return false;
    if (st.filled + n > st.dsl) throw new RangeError(`${n} bytes received past the end of a data segment`);
    st.filled += n;
    return true;
  }

  /**
   * Where a data segment goes: its final place when the placer names one (a Data-Out's place in
   * its command's buffer, so that it is copied once), else a buffer of the write-buffer pool
   * (immediate data becomes its command's buffer, which goes back to the pool when it ends).
   */
  private segmentBuffer(st: { bhs: Buffer; dsl: number }): { data: Buffer; pooled: boolean } {
    const place = this.placer?.(st.bhs, st.dsl);
    if (place !== undefined && place.length === st.dsl) return { data: place, pooled: false };
    return { data: takeWriteBuffer(st.dsl), pooled: true };
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
          const header = this.q.takeCopy(BHS_SIZE + ahsLen);
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
          this.state = { s: 'data', bhs, ahs, dsl, direct: undefined, directPooled: false, filled: 0 };
          continue;
        }
        case 'data': {
          const padded = st.dsl + padLength(st.dsl);
          const dd = this.settings.dataDigest ? 4 : 0;
          let data: Buffer;
          let pooled: boolean;
          if (st.direct) {
            if (st.filled < st.dsl || this.q.length < padded - st.dsl + dd) return undefined;
            data = st.direct;
            pooled = st.directPooled;
            unpinWriteBuffer(data);
          } else {
            if (this.q.length < padded + dd) return undefined;
            ({ data, pooled } = this.segmentBuffer(st));
            this.q.copyInto(data, 0, st.dsl);
          }
          const pad = this.q.take(padded - st.dsl);
          let dataDigestError = false;
          if (dd) dataDigestError = this.q.take(4).readUInt32LE(0) !== crc32c(pad, crc32c(data));
          this.state = { s: 'header' };
          return { kind: 'pdu', bhs: st.bhs, ahs: st.ahs, data, dataDigestError, pooled };
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
