/**
 * READ DEFECT DATA parameter data headers (SBC-3 §5.17.2 Table 77, §5.18.2 Table 80).
 *
 * (10): byte 1 PLISTV(4) GLISTV(3) DEFECT LIST FORMAT(2..0), bytes 2..3 DEFECT LIST LENGTH.
 * (12): byte 1 as above, bytes 4..7 DEFECT LIST LENGTH.
 *
 * An image has no grown or primary defects: the core reports both lists valid and empty, in the
 * format asked for.
 */
import { BlockError } from '../../util/index.js';

export const DEFECT_HEADER10_LENGTH = 4;
export const DEFECT_HEADER12_LENGTH = 8;

export interface DefectDataHeader {
  plistv: boolean;
  glistv: boolean;
  format: number;
  /** DEFECT LIST LENGTH in bytes (the descriptors that follow). */
  listLength: number;
}

export function encodeDefectHeader(size: 10 | 12, h: DefectDataHeader): Buffer {
  const b = Buffer.alloc(size === 10 ? DEFECT_HEADER10_LENGTH : DEFECT_HEADER12_LENGTH);
  b[1] = (h.plistv ? 0x10 : 0) | (h.glistv ? 0x08 : 0) | (h.format & 7);
  if (size === 10) b.writeUInt16BE(h.listLength, 2);
  else b.writeUInt32BE(h.listLength, 4);
  return b;
}

export function decodeDefectHeader(size: 10 | 12, b: Buffer): DefectDataHeader {
  if (b.length < (size === 10 ? DEFECT_HEADER10_LENGTH : DEFECT_HEADER12_LENGTH)) {
    throw new BlockError('INVALID', 'defect data header truncated');
  }
  return {
    plistv: !!(b[1]! & 0x10),
    glistv: !!(b[1]! & 0x08),
    format: b[1]! & 7,
    listLength: size === 10 ? b.readUInt16BE(2) : b.readUInt32BE(4),
  };
}
