/**
 * READ CAPACITY parameter data.
 *
 * READ CAPACITY (10) (SBC-3 §5.15.2, Table 65): bytes 0..3 RETURNED LOGICAL BLOCK ADDRESS
 * (FFFFFFFFh when the last LBA does not fit), 4..7 LOGICAL BLOCK LENGTH IN BYTES.
 *
 * READ CAPACITY (16) (SBC-3 §5.16.2, Table 67): bytes 0..7 RETURNED LOGICAL BLOCK ADDRESS,
 * 8..11 LOGICAL BLOCK LENGTH IN BYTES, byte 12 RC BASIS(5..4) P_TYPE(3..1) PROT_EN(0),
 * byte 13 P_I_EXPONENT(7..4) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT(3..0),
 * bytes 14..15 LBPME(15) LBPRZ(14) LOWEST ALIGNED LOGICAL BLOCK ADDRESS(13..0); 32 bytes.
 */
import { BlockError } from '../../util/index.js';

export const READ_CAPACITY10_LENGTH = 8;
export const READ_CAPACITY16_LENGTH = 32;

export interface ReadCapacity10Data {
  returnedLba: number;
  blockLength: number;
}

export function encodeReadCapacity10(d: ReadCapacity10Data): Buffer {
  const b = Buffer.alloc(READ_CAPACITY10_LENGTH);
  b.writeUInt32BE(Math.min(d.returnedLba, 0xffffffff), 0);
  b.writeUInt32BE(d.blockLength, 4);
  return b;
}

export function decodeReadCapacity10(b: Buffer): ReadCapacity10Data {
  if (b.length < READ_CAPACITY10_LENGTH) throw new BlockError('INVALID', 'READ CAPACITY (10) data too short');
  return { returnedLba: b.readUInt32BE(0), blockLength: b.readUInt32BE(4) };
}

export interface ReadCapacity16Data {
  returnedLba: bigint;
  blockLength: number;
  protEn: boolean;
  pType: number;
  /** log2(logical blocks per physical block). */
  lbppbe: number;
  lbpme: boolean;
  lbprz: boolean;
  lowestAlignedLba: number;
}

export function encodeReadCapacity16(d: ReadCapacity16Data): Buffer {
  const b = Buffer.alloc(READ_CAPACITY16_LENGTH);
  b.writeBigUInt64BE(d.returnedLba, 0);
  b.writeUInt32BE(d.blockLength, 8);
  b[12] = ((d.pType & 7) << 1) | (d.protEn ? 1 : 0);
  b[13] = d.lbppbe & 0x0f;
  b.writeUInt16BE((d.lbpme ? 0x8000 : 0) | (d.lbprz ? 0x4000 : 0) | (d.lowestAlignedLba & 0x3fff), 14);
  return b;
}

export function decodeReadCapacity16(b: Buffer): ReadCapacity16Data {
  if (b.length < 16) throw new BlockError('INVALID', 'READ CAPACITY (16) data too short');
  const w = b.readUInt16BE(14);
  return {
    returnedLba: b.readBigUInt64BE(0),
    blockLength: b.readUInt32BE(8),
    protEn: !!(b[12]! & 1),
    pType: (b[12]! >> 1) & 7,
    lbppbe: b[13]! & 0x0f,
    lbpme: !!(w & 0x8000),
    lbprz: !!(w & 0x4000),
    lowestAlignedLba: w & 0x3fff,
  };
}
