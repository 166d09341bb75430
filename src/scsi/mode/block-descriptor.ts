/**
 * Mode parameter block descriptors for direct-access devices (SBC-3 §6.4.2).
 *
 * Short LBA (Table 161), 8 bytes: NUMBER OF LOGICAL BLOCKS (4; FFFFFFFFh when the capacity does
 * not fit), reserved, LOGICAL BLOCK LENGTH (3).
 * Long LBA (Table 162), 16 bytes: NUMBER OF LOGICAL BLOCKS (8), reserved (4), LOGICAL BLOCK
 * LENGTH (4). Used by MODE SENSE (10) with LLBAA = 1 (LONGLBA = 1 in the header).
 */
import { BlockError } from '../../util/index.js';

export const SHORT_BLOCK_DESCRIPTOR_LENGTH = 8;
export const LONG_BLOCK_DESCRIPTOR_LENGTH = 16;

export interface BlockDescriptor {
  numberOfBlocks: bigint;
  blockLength: number;
}

export function encodeBlockDescriptor(long: boolean, d: BlockDescriptor): Buffer {
  if (long) {
    const b = Buffer.alloc(LONG_BLOCK_DESCRIPTOR_LENGTH);
    b.writeBigUInt64BE(d.numberOfBlocks, 0);
    b.writeUInt32BE(d.blockLength, 12);
    return b;
  }
  const b = Buffer.alloc(SHORT_BLOCK_DESCRIPTOR_LENGTH);
  b.writeUInt32BE(d.numberOfBlocks > 0xffffffffn ? 0xffffffff : Number(d.numberOfBlocks), 0);
  b.writeUIntBE(d.blockLength & 0xffffff, 5, 3);
  return b;
}

export function decodeBlockDescriptor(long: boolean, b: Buffer): BlockDescriptor {
  const need = long ? LONG_BLOCK_DESCRIPTOR_LENGTH : SHORT_BLOCK_DESCRIPTOR_LENGTH;
  if (b.length < need) throw new BlockError('INVALID', 'block descriptor truncated');
  return long
    ? { numberOfBlocks: b.readBigUInt64BE(0), blockLength: b.readUInt32BE(12) }
    : { numberOfBlocks: BigInt(b.readUInt32BE(0)), blockLength: b.readUIntBE(5, 3) };
}
