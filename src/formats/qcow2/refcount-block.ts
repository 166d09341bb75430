/**
 * Refcount blocks and the refcount table (docs/interop/qcow2.txt, "Host cluster management").
 *
 * A refcount block is one cluster of `cluster_size * 8 / refcount_bits` entries. Entries of 8
 * bits or more are big-endian integers; sub-byte entries are packed with entry 0 in the least
 * significant bits of byte 0. Refcount table entries are u64 cluster offsets (bits 9-63; bits 0-8
 * reserved), 0 meaning "no block: every refcount in its range is 0".
 */
import { BlockError } from '../../util/index.js';

export function refcountEntries(clusterSize: number, refcountBits: number): number {
  return (clusterSize * 8) / refcountBits;
}

export function maxRefcount(refcountBits: number): number {
  return refcountBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** refcountBits - 1;
}

export function getRefcount(block: Buffer, index: number, bits: number): number {
  switch (bits) {
    case 1:
    case 2:
    case 4: {
      const perByte = 8 / bits;
      const byte = block[Math.floor(index / perByte)]!;
      return (byte >> ((index % perByte) * bits)) & ((1 << bits) - 1);
    }
    case 8:
      return block[index]!;
    case 16:
      return block.readUInt16BE(index * 2);
    case 32:
      return block.readUInt32BE(index * 4);
    case 64: {
      const v = block.readBigUInt64BE(index * 8);
      if (v > BigInt(Number.MAX_SAFE_INTEGER))
        throw new BlockError('CORRUPT', `refcount ${v} is out of range`);
      return Number(v);
    }
    default:
      throw new BlockError('CORRUPT', `invalid refcount width ${bits}`);
  }
}

export function setRefcount(block: Buffer, index: number, bits: number, value: number): void {
  if (value < 0 || value > maxRefcount(bits)) {
    throw new BlockError('INVALID', `refcount ${value} does not fit in ${bits} bits`);
  }
  switch (bits) {
    case 1:
    case 2:
    case 4: {
      const perByte = 8 / bits;
      const i = Math.floor(index / perByte);
      const shift = (index % perByte) * bits;
      const mask = ((1 << bits) - 1) << shift;
      block[i] = (block[i]! & ~mask) | (value << shift);
      return;
    }
    case 8:
      block[index] = value;
      return;
    case 16:
      block.writeUInt16BE(value, index * 2);
      return;
    case 32:
      block.writeUInt32BE(value, index * 4);
      return;
    case 64:
      block.writeBigUInt64BE(BigInt(value), index * 8);
      return;
    default:
      throw new BlockError('CORRUPT', `invalid refcount width ${bits}`);
  }
}

/** Byte range [start, end) of `block` that holds entry `index` (for writing back one entry). */
export function refcountByteRange(index: number, bits: number): [number, number] {
  const start = Math.floor((index * bits) / 8);
  return [start, start + Math.max(1, bits / 8)];
}

/** Decodes a refcount table entry. Returns 0 for "no block". */
export function decodeRefcountTableEntry(table: Buffer, index: number, clusterSize: number): number {
  const hi = table.readUInt32BE(index * 8);
  const lo = table.readUInt32BE(index * 8 + 4);
  const offset = hi * 0x100000000 + ((lo & 0xfffffe00) >>> 0);
  if (lo & 0x1ff) throw new BlockError('CORRUPT', `refcount table entry ${index} has reserved bits set`);
  if (offset % clusterSize !== 0) {
    throw new BlockError('CORRUPT', `refcount block offset 0x${offset.toString(16)} is not cluster aligned`);
  }
  if (offset > Number.MAX_SAFE_INTEGER)
    throw new BlockError('CORRUPT', `refcount table entry ${index} is out of range`);
  return offset;
}

export function encodeRefcountTableEntry(table: Buffer, index: number, offset: number): void {
  table.writeUInt32BE(Math.floor(offset / 0x100000000) >>> 0, index * 8);
  table.writeUInt32BE((offset % 0x100000000) >>> 0, index * 8 + 4);
}
