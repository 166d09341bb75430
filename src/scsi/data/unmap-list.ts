/**
 * UNMAP parameter list (SBC-3 §5.28.2, Tables 99-100): bytes 0..1 UNMAP DATA LENGTH (n - 1),
 * 2..3 UNMAP BLOCK DESCRIPTOR DATA LENGTH (n - 7), 4..7 reserved, then 16-byte UNMAP block
 * descriptors: bytes 0..7 UNMAP LOGICAL BLOCK ADDRESS, 8..11 NUMBER OF LOGICAL BLOCKS.
 *
 * Decoding follows SBC-3 §5.28.2: the descriptor area is the smaller of what the lengths say and
 * what arrived, and a trailing partial descriptor is ignored.
 */
import { BlockError } from '../../util/index.js';

export const UNMAP_HEADER_LENGTH = 8;
export const UNMAP_DESCRIPTOR_LENGTH = 16;

export interface UnmapDescriptor {
  lba: bigint;
  blocks: number;
}

/** The most descriptors a parameter list can carry (its length fields are 16 bits). */
export const MAX_UNMAP_LIST_DESCRIPTORS = (0xffff - UNMAP_HEADER_LENGTH) >> 4;

export function encodeUnmapList(ds: readonly UnmapDescriptor[]): Buffer {
  if (ds.length > MAX_UNMAP_LIST_DESCRIPTORS)
    throw new BlockError('INVALID', `too many UNMAP descriptors (${ds.length})`);
  const b = Buffer.alloc(UNMAP_HEADER_LENGTH + UNMAP_DESCRIPTOR_LENGTH * ds.length);
  b.writeUInt16BE(b.length - 2, 0);
  b.writeUInt16BE(UNMAP_DESCRIPTOR_LENGTH * ds.length, 2);
  ds.forEach((d, i) => {
    const off = UNMAP_HEADER_LENGTH + UNMAP_DESCRIPTOR_LENGTH * i;
    b.writeBigUInt64BE(d.lba, off);
    b.writeUInt32BE(d.blocks, off + 8);
  });
  return b;
}

export function decodeUnmapList(b: Buffer): UnmapDescriptor[] {
  if (b.length < UNMAP_HEADER_LENGTH) throw new BlockError('INVALID', 'UNMAP parameter list too short');
  const dataEnd = Math.min(b.length, 2 + b.readUInt16BE(0));
  const descEnd = Math.min(dataEnd, UNMAP_HEADER_LENGTH + b.readUInt16BE(2));
  const out: UnmapDescriptor[] = [];
  for (
    let off = UNMAP_HEADER_LENGTH;
    off + UNMAP_DESCRIPTOR_LENGTH <= descEnd;
    off += UNMAP_DESCRIPTOR_LENGTH
  ) {
    out.push({ lba: b.readBigUInt64BE(off), blocks: b.readUInt32BE(off + 8) });
  }
  return out;
}
