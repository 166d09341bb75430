/**
 * The LBA + length CDB layouts shared by the block commands (SBC-3 §5), decoded into one
 * `BlockCdb` whatever the size:
 *
 * - 6 bytes (READ (6) / WRITE (6), §5.7/§5.27): LOGICAL BLOCK ADDRESS in bytes 1..3 (21 bits),
 *   TRANSFER LENGTH in byte 4 (0 means 256 blocks), CONTROL byte 5. No flag byte.
 * - 10 bytes: byte 1 flags, LBA 2..5, GROUP NUMBER byte 6 (4..0), LENGTH 7..8, CONTROL 9.
 * - 12 bytes: byte 1 flags, LBA 2..5, LENGTH 6..9, GROUP NUMBER byte 10, CONTROL 11.
 * - 16 bytes: byte 1 flags, LBA 2..9, LENGTH 10..13, GROUP NUMBER byte 14, CONTROL 15.
 *   (The SERVICE ACTION IN (16) commands READ CAPACITY (16) and GET LBA STATUS use the same
 *   places for LBA and ALLOCATION LENGTH; their service action is byte 1 bits 4..0.)
 *
 * Flag byte meanings depend on the command (RDPROTECT/WRPROTECT 7..5, DPO 4, FUA 3, ...); they are
 * kept raw in `flags` and named by `BlockFlag`. The 64-bit LBA becomes a number in one place
 * (`safeLba`): values from 2^53 up are clamped to MAX_SAFE_INTEGER, out of range of any device, so
 * they fail the range check as LOGICAL BLOCK ADDRESS OUT OF RANGE.
 */
import { BlockError } from '../../util/index.js';

export type BlockCdbSize = 6 | 10 | 12 | 16;

export interface BlockCdb {
  opcode: number;
  size: BlockCdbSize;
  /** Byte 1 (0 for 6-byte CDBs). */
  flags: number;
  lba: number;
  /** TRANSFER LENGTH / NUMBER OF LOGICAL BLOCKS / ALLOCATION LENGTH, as the CDB says it. */
  length: number;
  group: number;
  control: number;
}

/** Byte 1 bits of the 10/12/16-byte block CDBs (SBC-3 Tables 33, 97 ...). */
export const BlockFlag = {
  PROTECT_MASK: 0xe0,
  DPO: 0x10,
  FUA: 0x08,
  /** VERIFY / WRITE AND VERIFY: BYTCHK (bits 2..1). */
  BYTCHK_MASK: 0x06,
  /** WRITE SAME: UNMAP (bit 3), ANCHOR (bit 4), NDOB (bit 0, 16-byte only). */
  WS_UNMAP: 0x08,
  WS_ANCHOR: 0x10,
  WS_NDOB: 0x01,
  /** SYNCHRONIZE CACHE / PRE-FETCH: IMMED (bit 1). */
  IMMED: 0x02,
  /** READ (10/12/16): RARC (bit 2); WRITE: obsolete / reserved. */
  RARC: 0x04,
} as const;

export function cdbSize(opcode: number): BlockCdbSize {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      throw new BlockError('INVALID', `opcode 0x${opcode.toString(16)} is not a block command`);
  }
}

/** The 64-bit LBA at `off` as a number, clamped to MAX_SAFE_INTEGER (two 32-bit reads: no bigint). */
function safeLba(cdb: Buffer, off: number): number {
  const hi = cdb.readUInt32BE(off);
  if (hi >= 0x200000) return Number.MAX_SAFE_INTEGER;
  return hi * 0x1_0000_0000 + cdb.readUInt32BE(off + 4);
}

export function decodeBlockCdb(cdb: Buffer): BlockCdb {
  const opcode = cdb[0]!;
  const size = cdbSize(opcode);
  if (cdb.length < size) throw new BlockError('INVALID', `CDB shorter than ${size} bytes`);
  switch (size) {
    case 6: {
      const len = cdb[4]!;
      return {
        opcode,
        size,
        flags: 0,
        lba: ((cdb[1]! & 0x1f) << 16) | cdb.readUInt16BE(2),
        length: len,
        group: 0,
        control: cdb[5]!,
      };
    }
    case 10:
      return {
        opcode,
        size,
        flags: cdb[1]!,
        lba: cdb.readUInt32BE(2),
        length: cdb.readUInt16BE(7),
        group: cdb[6]! & 0x3f,
        control: cdb[9]!,
      };
    case 12:
      return {
        opcode,
        size,
        flags: cdb[1]!,
        lba: cdb.readUInt32BE(2),
        length: cdb.readUInt32BE(6),
        group: cdb[10]! & 0x3f,
        control: cdb[11]!,
      };
    case 16:
      return {
        opcode,
        size,
        flags: cdb[1]!,
        lba: safeLba(cdb, 2),
        length: cdb.readUInt32BE(10),
        group: cdb[14]! & 0x3f,
        control: cdb[15]!,
      };
  }
}

export function encodeBlockCdb(c: BlockCdb): Buffer {
  const b = Buffer.alloc(c.size);
  b[0] = c.opcode;
  switch (c.size) {
    case 6:
      b[1] = (c.lba >> 16) & 0x1f;
      b.writeUInt16BE(c.lba & 0xffff, 2);
      b[4] = c.length & 0xff;
      b[5] = c.control;
      break;
    case 10:
      b[1] = c.flags;
      b.writeUInt32BE(c.lba, 2);
      b[6] = c.group;
      b.writeUInt16BE(c.length, 7);
      b[9] = c.control;
      break;
    case 12:
      b[1] = c.flags;
      b.writeUInt32BE(c.lba, 2);
      b.writeUInt32BE(c.length, 6);
      b[10] = c.group;
      b[11] = c.control;
      break;
    case 16:
      b[1] = c.flags;
      b.writeBigUInt64BE(BigInt(c.lba), 2);
      b.writeUInt32BE(c.length, 10);
      b[14] = c.group;
      b[15] = c.control;
      break;
  }
  return b;
}
