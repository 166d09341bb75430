/**
 * Block Limits VPD page (SBC-3 §6.5.3, Table 182): page length 3Ch.
 *
 * Byte 4 WSNZ(0); byte 5 MAXIMUM COMPARE AND WRITE LENGTH; 6..7 OPTIMAL TRANSFER LENGTH
 * GRANULARITY; 8..11 MAXIMUM TRANSFER LENGTH; 12..15 OPTIMAL TRANSFER LENGTH; 16..19 MAXIMUM
 * PREFETCH LENGTH; 20..23 MAXIMUM UNMAP LBA COUNT; 24..27 MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT;
 * 28..31 OPTIMAL UNMAP GRANULARITY; 32..35 UGAVALID(31) | UNMAP GRANULARITY ALIGNMENT; 36..43
 * MAXIMUM WRITE SAME LENGTH. Lengths are in logical blocks.
 */
import { decodeVpdPage, encodeVpdPage, VpdPageCode } from './page.js';

export const BLOCK_LIMITS_PAGE_LENGTH = 0x3c;

export interface BlockLimits {
  wsnz: boolean;
  maxCompareAndWriteLength: number;
  optimalTransferLengthGranularity: number;
  maxTransferLength: number;
  optimalTransferLength: number;
  maxPrefetchLength: number;
  maxUnmapLbaCount: number;
  maxUnmapBlockDescriptorCount: number;
  optimalUnmapGranularity: number;
  /** Present means UGAVALID = 1. */
  unmapGranularityAlignment?: number;
  maxWriteSameLength: bigint;
}

export function encodeBlockLimits(peripheral: number, d: BlockLimits): Buffer {
  const b = Buffer.alloc(BLOCK_LIMITS_PAGE_LENGTH);
  // Offsets below are page offsets minus the 4-byte header.
  b[0] = d.wsnz ? 1 : 0;
  b[1] = d.maxCompareAndWriteLength;
  b.writeUInt16BE(d.optimalTransferLengthGranularity, 2);
  b.writeUInt32BE(d.maxTransferLength, 4);
  b.writeUInt32BE(d.optimalTransferLength, 8);
  b.writeUInt32BE(d.maxPrefetchLength, 12);
  b.writeUInt32BE(d.maxUnmapLbaCount, 16);
  b.writeUInt32BE(d.maxUnmapBlockDescriptorCount, 20);
  b.writeUInt32BE(d.optimalUnmapGranularity, 24);
  if (d.unmapGranularityAlignment !== undefined) {
    b.writeUInt32BE((0x80000000 | d.unmapGranularityAlignment) >>> 0, 28);
  }
  b.writeBigUInt64BE(d.maxWriteSameLength, 32);
  return encodeVpdPage(peripheral, VpdPageCode.BLOCK_LIMITS, b);
}

export function decodeBlockLimits(page: Buffer): BlockLimits {
  const b = Buffer.alloc(BLOCK_LIMITS_PAGE_LENGTH);
  decodeVpdPage(page, VpdPageCode.BLOCK_LIMITS).body.copy(b);
  const uga = b.readUInt32BE(28);
  const d: BlockLimits = {
    wsnz: !!(b[0]! & 1),
    maxCompareAndWriteLength: b[1]!,
    optimalTransferLengthGranularity: b.readUInt16BE(2),
    maxTransferLength: b.readUInt32BE(4),
    optimalTransferLength: b.readUInt32BE(8),
    maxPrefetchLength: b.readUInt32BE(12),
    maxUnmapLbaCount: b.readUInt32BE(16),
    maxUnmapBlockDescriptorCount: b.readUInt32BE(20),
    optimalUnmapGranularity: b.readUInt32BE(24),
    maxWriteSameLength: b.readBigUInt64BE(32),
  };
  if (uga & 0x80000000) d.unmapGranularityAlignment = uga & 0x7fffffff;
  return d;
}
