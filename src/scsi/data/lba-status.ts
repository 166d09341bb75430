/**
 * GET LBA STATUS parameter data (SBC-3 §5.5.2, Tables 38 and 39): bytes 0..3 PARAMETER DATA
 * LENGTH (n - 3), 4..7 reserved, then 16-byte LBA status descriptors: bytes 0..7 LBA STATUS
 * LOGICAL BLOCK ADDRESS, 8..11 NUMBER OF LOGICAL BLOCKS, byte 12 PROVISIONING STATUS (3..0):
 * 0h mapped, 1h deallocated, 2h anchored.
 */
import { BlockError } from '../../util/index.js';

export const LbaStatusKind = { MAPPED: 0, DEALLOCATED: 1, ANCHORED: 2 } as const;

export interface LbaStatusDescriptor {
  lba: bigint;
  blocks: number;
  status: number;
}

export function encodeLbaStatus(ds: readonly LbaStatusDescriptor[]): Buffer {
  const b = Buffer.alloc(8 + 16 * ds.length);
  b.writeUInt32BE(4 + 16 * ds.length, 0);
  ds.forEach((d, i) => {
    const off = 8 + 16 * i;
    b.writeBigUInt64BE(d.lba, off);
    b.writeUInt32BE(Math.min(d.blocks, 0xffffffff), off + 8);
    b[off + 12] = d.status & 0x0f;
  });
  return b;
}

export function decodeLbaStatus(b: Buffer): LbaStatusDescriptor[] {
  if (b.length < 8) throw new BlockError('INVALID', 'GET LBA STATUS data too short');
  const end = Math.min(b.length, 4 + b.readUInt32BE(0));
  const out: LbaStatusDescriptor[] = [];
  for (let off = 8; off + 16 <= end; off += 16) {
    out.push({ lba: b.readBigUInt64BE(off), blocks: b.readUInt32BE(off + 8), status: b[off + 12]! & 0x0f });
  }
  return out;
}
