/**
 * Segment descriptors of the EXTENDED COPY (LID1) parameter list (SPC-4 §6.3.7). Every segment
 * descriptor starts with the same 8 bytes (Table 122):
 *
 *   byte 0      DESCRIPTOR TYPE CODE
 *   byte 1      reserved | DC (1) | CAT (0)
 *   bytes 2..3  DESCRIPTOR LENGTH (n - 3: the bytes after this field)
 *   bytes 4..5  SOURCE CSCD DESCRIPTOR ID (an index into the CSCD descriptor list)
 *   bytes 6..7  DESTINATION CSCD DESCRIPTOR ID
 *
 * vdisk supports the block device to block device descriptor (02h, §6.3.7.5 Table 127), 28 bytes
 * with DESCRIPTOR LENGTH 0018h:
 *
 *   bytes 8..9   reserved
 *   bytes 10..11 BLOCK DEVICE NUMBER OF BLOCKS (source blocks if DC = 0, destination blocks if 1)
 *   bytes 12..19 SOURCE BLOCK DEVICE LOGICAL BLOCK ADDRESS
 *   bytes 20..27 DESTINATION BLOCK DEVICE LOGICAL BLOCK ADDRESS
 *
 * Any other type code is `unsupported` (UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE); the common
 * DESCRIPTOR LENGTH field is how the list is walked past it.
 */
import { BlockError } from '../../util/index.js';

export const BLOCK_TO_BLOCK = 0x02;
export const BLOCK_TO_BLOCK_LENGTH = 28;
export const SEGMENT_HEADER_LENGTH = 8;

export interface BlockToBlockSegment {
  kind: 'block-to-block';
  /** DC: BLOCK DEVICE NUMBER OF BLOCKS counts destination blocks. */
  dc: boolean;
  cat: boolean;
  source: number;
  destination: number;
  blocks: number;
  sourceLba: bigint;
  destinationLba: bigint;
}

export type SegmentDescriptor =
  | BlockToBlockSegment
  | { kind: 'unsupported'; typeCode: number }
  | { kind: 'invalid'; byte: number; bit?: number; reason: string };

/** The byte length of the segment descriptor at the start of `b` (from its DESCRIPTOR LENGTH). */
export function segmentDescriptorLength(b: Buffer): number {
  if (b.length < 4) throw new BlockError('INVALID', 'segment descriptor header truncated');
  return 4 + b.readUInt16BE(2);
}

export function decodeSegmentDescriptor(b: Buffer): SegmentDescriptor {
  const length = segmentDescriptorLength(b);
  if (b.length < length) throw new BlockError('INVALID', 'segment descriptor truncated');
  const typeCode = b[0]!;
  if (typeCode !== BLOCK_TO_BLOCK) return { kind: 'unsupported', typeCode };
  if (length !== BLOCK_TO_BLOCK_LENGTH) {
    return { kind: 'invalid', byte: 2, reason: 'block to block DESCRIPTOR LENGTH is not 0018h' };
  }
  return {
    kind: 'block-to-block',
    dc: !!(b[1]! & 0x02),
    cat: !!(b[1]! & 0x01),
    source: b.readUInt16BE(4),
    destination: b.readUInt16BE(6),
    blocks: b.readUInt16BE(10),
    sourceLba: b.readBigUInt64BE(12),
    destinationLba: b.readBigUInt64BE(20),
  };
}

export function encodeBlockToBlockSegment(d: Omit<BlockToBlockSegment, 'kind'>): Buffer {
  const b = Buffer.alloc(BLOCK_TO_BLOCK_LENGTH);
  b[0] = BLOCK_TO_BLOCK;
  b[1] = (d.dc ? 0x02 : 0) | (d.cat ? 0x01 : 0);
  b.writeUInt16BE(BLOCK_TO_BLOCK_LENGTH - 4, 2);
  b.writeUInt16BE(d.source, 4);
  b.writeUInt16BE(d.destination, 6);
  b.writeUInt16BE(d.blocks, 10);
  b.writeBigUInt64BE(d.sourceLba, 12);
  b.writeBigUInt64BE(d.destinationLba, 20);
  return b;
}
