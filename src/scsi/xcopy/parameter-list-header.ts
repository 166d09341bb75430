/**
 * EXTENDED COPY (LID1) parameter list header (SPC-4 §6.3.1 Table 103), 16 bytes:
 *
 *   byte 0      LIST IDENTIFIER
 *   byte 1      reserved (7..6) | STR (5) | LIST ID USAGE (4..3) | PRIORITY (2..0)
 *   bytes 2..3  CSCD DESCRIPTOR LIST LENGTH (bytes)
 *   bytes 4..7  reserved
 *   bytes 8..11 SEGMENT DESCRIPTOR LIST LENGTH (bytes)
 *   bytes 12..15 INLINE DATA LENGTH (bytes)
 *
 * then the CSCD descriptors, the segment descriptors and the inline data.
 */
import { BlockError } from '../../util/index.js';

export const PARAMETER_LIST_HEADER_LENGTH = 16;

/** SPC-4 Table 104: LIST ID USAGE. */
export const ListIdUsage = {
  /** 00b: hold data for RECEIVE COPY RESULTS; the list identifier is unique per I_T nexus. */
  HOLD: 0,
  /** 01b: reserved. */
  RESERVED: 1,
  /** 10b: hold only the copy status; the list identifier is unique per I_T nexus. */
  STATUS_ONLY: 2,
  /** 11b: hold nothing; the list identifier shall be zero (allowed because SNLID = 1). */
  NONE: 3,
} as const;

export interface ParameterListHeader {
  listId: number;
  /** Sequential striped: a performance hint. */
  str: boolean;
  listIdUsage: number;
  priority: number;
  cscdListLength: number;
  segmentListLength: number;
  inlineDataLength: number;
}

export function decodeParameterListHeader(b: Buffer): ParameterListHeader {
  if (b.length < PARAMETER_LIST_HEADER_LENGTH) {
    throw new BlockError('INVALID', 'EXTENDED COPY parameter list shorter than its header');
  }
  return {
    listId: b[0]!,
    str: !!(b[1]! & 0x20),
    listIdUsage: (b[1]! >> 3) & 3,
    priority: b[1]! & 7,
    cscdListLength: b.readUInt16BE(2),
    segmentListLength: b.readUInt32BE(8),
    inlineDataLength: b.readUInt32BE(12),
  };
}

export function encodeParameterListHeader(h: ParameterListHeader): Buffer {
  const b = Buffer.alloc(PARAMETER_LIST_HEADER_LENGTH);
  b[0] = h.listId;
  b[1] = (h.str ? 0x20 : 0) | ((h.listIdUsage & 3) << 3) | (h.priority & 7);
  b.writeUInt16BE(h.cscdListLength, 2);
  b.writeUInt32BE(h.segmentListLength, 8);
  b.writeUInt32BE(h.inlineDataLength, 12);
  return b;
}
