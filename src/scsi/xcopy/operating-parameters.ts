/**
 * RECEIVE COPY RESULTS, OPERATING PARAMETERS parameter data (SPC-4 §6.18.4 Table 144):
 *
 *   bytes 0..3   AVAILABLE DATA (n - 3)
 *   byte 4       reserved | SNLID (0): LIST ID USAGE 11b is supported
 *   bytes 8..9   MAXIMUM CSCD DESCRIPTOR COUNT
 *   bytes 10..11 MAXIMUM SEGMENT DESCRIPTOR COUNT
 *   bytes 12..15 MAXIMUM DESCRIPTOR LIST LENGTH
 *   bytes 16..19 MAXIMUM SEGMENT LENGTH
 *   bytes 20..23 MAXIMUM INLINE DATA LENGTH
 *   bytes 24..27 HELD DATA LIMIT
 *   bytes 28..31 MAXIMUM STREAM DEVICE TRANSFER SIZE
 *   bytes 34..35 TOTAL CONCURRENT COPIES
 *   byte 36      MAXIMUM CONCURRENT COPIES
 *   byte 37      DATA SEGMENT GRANULARITY (log2 bytes)
 *   byte 38      INLINE DATA GRANULARITY (log2 bytes)
 *   byte 39      HELD DATA GRANULARITY (log2 bytes)
 *   byte 43      IMPLEMENTED DESCRIPTOR LIST LENGTH (n - 43)
 *   bytes 44..n  the implemented descriptor type codes, one byte each
 */
import { BlockError } from '../../util/index.js';

export const OPERATING_PARAMETERS_FIXED_LENGTH = 44;

export interface OperatingParameters {
  snlid: boolean;
  maxCscdDescriptorCount: number;
  maxSegmentDescriptorCount: number;
  maxDescriptorListLength: number;
  maxSegmentLength: number;
  maxInlineDataLength: number;
  heldDataLimit: number;
  maxStreamDeviceTransferSize: number;
  totalConcurrentCopies: number;
  maxConcurrentCopies: number;
  dataSegmentGranularity: number;
  inlineDataGranularity: number;
  heldDataGranularity: number;
  implementedDescriptorTypeCodes: number[];
}

export function encodeOperatingParameters(p: OperatingParameters): Buffer {
  const n = p.implementedDescriptorTypeCodes.length;
  if (n > 0xff) throw new BlockError('INVALID', 'too many implemented descriptor type codes');
  const b = Buffer.alloc(OPERATING_PARAMETERS_FIXED_LENGTH + n);
  b.writeUInt32BE(b.length - 4, 0);
  b[4] = p.snlid ? 1 : 0;
  b.writeUInt16BE(p.maxCscdDescriptorCount, 8);
  b.writeUInt16BE(p.maxSegmentDescriptorCount, 10);
  b.writeUInt32BE(p.maxDescriptorListLength, 12);
  b.writeUInt32BE(p.maxSegmentLength, 16);
  b.writeUInt32BE(p.maxInlineDataLength, 20);
  b.writeUInt32BE(p.heldDataLimit, 24);
  b.writeUInt32BE(p.maxStreamDeviceTransferSize, 28);
  b.writeUInt16BE(p.totalConcurrentCopies, 34);
  b[36] = p.maxConcurrentCopies;
  b[37] = p.dataSegmentGranularity;
  b[38] = p.inlineDataGranularity;
  b[39] = p.heldDataGranularity;
  b[43] = n;
  p.implementedDescriptorTypeCodes.forEach((c, i) => (b[44 + i] = c));
  return b;
}

export function decodeOperatingParameters(b: Buffer): OperatingParameters {
  if (b.length < OPERATING_PARAMETERS_FIXED_LENGTH)
    throw new BlockError('INVALID', 'operating parameters truncated');
  const n = b[43]!;
  if (b.length < OPERATING_PARAMETERS_FIXED_LENGTH + n)
    throw new BlockError('INVALID', 'descriptor code list truncated');
  return {
    snlid: !!(b[4]! & 1),
    maxCscdDescriptorCount: b.readUInt16BE(8),
    maxSegmentDescriptorCount: b.readUInt16BE(10),
    maxDescriptorListLength: b.readUInt32BE(12),
    maxSegmentLength: b.readUInt32BE(16),
    maxInlineDataLength: b.readUInt32BE(20),
    heldDataLimit: b.readUInt32BE(24),
    maxStreamDeviceTransferSize: b.readUInt32BE(28),
    totalConcurrentCopies: b.readUInt16BE(34),
    maxConcurrentCopies: b[36]!,
    dataSegmentGranularity: b[37]!,
    inlineDataGranularity: b[38]!,
    heldDataGranularity: b[39]!,
    implementedDescriptorTypeCodes: [...b.subarray(44, 44 + n)],
  };
}
