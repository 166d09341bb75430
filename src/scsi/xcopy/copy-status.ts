/**
 * RECEIVE COPY RESULTS, COPY STATUS parameter data for EXTENDED COPY (LID1) (SPC-4 §6.18.2
 * Table 141), 12 bytes:
 *
 *   bytes 0..3  AVAILABLE DATA (00000008h)
 *   byte 4      HDD (7) | COPY MANAGER STATUS (6..0)
 *   bytes 5..6  SEGMENTS PROCESSED
 *   byte 7      TRANSFER COUNT UNITS (Table 142: 00h bytes, 01h KiB, 02h MiB, 03h GiB, ...)
 *   bytes 8..11 TRANSFER COUNT
 */
import { BlockError } from '../../util/index.js';

export const COPY_STATUS_LENGTH = 12;

/** SPC-4 Table 141: COPY MANAGER STATUS. */
export const CopyManagerStatus = {
  IN_PROGRESS: 0x00,
  COMPLETED_WITHOUT_ERRORS: 0x01,
  COMPLETED_WITH_ERRORS: 0x02,
} as const;

export interface CopyStatus {
  /** HDD: held data discarded (we never hold data, so always false in practice). */
  hdd: boolean;
  status: number;
  segmentsProcessed: number;
  transferCountUnits: number;
  transferCount: number;
}

export function encodeCopyStatus(s: CopyStatus): Buffer {
  const b = Buffer.alloc(COPY_STATUS_LENGTH);
  b.writeUInt32BE(COPY_STATUS_LENGTH - 4, 0);
  b[4] = (s.hdd ? 0x80 : 0) | (s.status & 0x7f);
  b.writeUInt16BE(s.segmentsProcessed, 5);
  b[7] = s.transferCountUnits;
  b.writeUInt32BE(s.transferCount, 8);
  return b;
}

export function decodeCopyStatus(b: Buffer): CopyStatus {
  if (b.length < COPY_STATUS_LENGTH) throw new BlockError('INVALID', 'copy status truncated');
  return {
    hdd: !!(b[4]! & 0x80),
    status: b[4]! & 0x7f,
    segmentsProcessed: b.readUInt16BE(5),
    transferCountUnits: b[7]!,
    transferCount: b.readUInt32BE(8),
  };
}

/** A byte count in the smallest TRANSFER COUNT UNITS (powers of 1024) that fits 32 bits. */
export function transferCountOf(bytes: number): { transferCountUnits: number; transferCount: number } {
  let units = 0;
  let v = bytes;
  while (v > 0xffffffff) {
    v = Math.floor(v / 1024);
    units++;
  }
  return { transferCountUnits: units, transferCount: v };
}
