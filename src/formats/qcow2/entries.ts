/**
 * L1 and L2 table entries (docs/interop/qcow2.txt, "Cluster mapping"), classified into a closed
 * set of cluster types before use (STYLE.md convention 3).
 *
 * Entries are read as two 32-bit halves so that the hot path allocates no bigint:
 *   hi = bits 63..32, lo = bits 31..0.
 *   L2 standard: bit 63 COPIED, bit 62 COMPRESSED, bits 9-55 host offset, bit 0 reads-as-zero,
 *                bits 1-8 and 56-61 reserved.
 *   L1:          bit 63 COPIED, bits 9-55 L2 table offset, bits 0-8 and 56-62 reserved.
 *   Compressed:  x = 62 - (cluster_bits - 8); bits 0..x-1 host byte offset,
 *                bits x..61 number of additional 512-byte sectors.
 */

const HI_COPIED = 0x80000000;
const HI_COMPRESSED = 0x40000000;
const HI_OFFSET_MASK = 0x00ffffff; // bits 32-55
const HI_L2_RESERVED = 0x3f000000; // bits 56-61
const HI_L1_RESERVED = 0x7f000000; // bits 56-62
const LO_OFFSET_MASK = 0xfffffe00; // bits 9-31
const LO_ZERO = 0x1;
const LO_RESERVED = 0x1fe; // bits 1-8
const TWO32 = 0x100000000;

export type L2Entry =
  | { kind: 'unallocated' }
  /** Reads as zeroes; `hostOffset` (0 if none) may hold a preallocated cluster. */
  | { kind: 'zero'; hostOffset: number; copied: boolean }
  | { kind: 'normal'; hostOffset: number; copied: boolean }
  /** `hostOffset` is a byte offset; the data spans `sectors` 512-byte sectors from its sector. */
  | { kind: 'compressed'; hostOffset: number; sectors: number }
  | { kind: 'invalid'; reason: string };

export type L1Entry =
  | { kind: 'unallocated' }
  | { kind: 'table'; offset: number; copied: boolean }
  | { kind: 'invalid'; reason: string };

export function decodeL1Entry(buf: Buffer, index: number, clusterSize: number): L1Entry {
  const hi = buf.readUInt32BE(index * 8);
  const lo = buf.readUInt32BE(index * 8 + 4);
  if (hi === 0 && lo === 0) return { kind: 'unallocated' };
  if (hi & HI_L1_RESERVED || lo & 0x1ff)
    return { kind: 'invalid', reason: `L1 entry ${index} has reserved bits set` };
  const offset = (hi & HI_OFFSET_MASK) * TWO32 + ((lo & LO_OFFSET_MASK) >>> 0);
  if (offset === 0) return { kind: 'unallocated' };
  if (offset % clusterSize !== 0)
    return { kind: 'invalid', reason: `L2 table offset 0x${offset.toString(16)} is not cluster aligned` };
  return { kind: 'table', offset, copied: (hi & HI_COPIED) !== 0 };
}

export function encodeL1Entry(buf: Buffer, index: number, offset: number, copied: boolean): void {
  buf.writeUInt32BE(
    ((Math.floor(offset / TWO32) & HI_OFFSET_MASK) | (copied && offset ? HI_COPIED : 0)) >>> 0,
    index * 8,
  );
  buf.writeUInt32BE((offset % TWO32) >>> 0, index * 8 + 4);
}

export function decodeL2Entry(buf: Buffer, index: number, clusterBits: number, v3: boolean): L2Entry {
  const hi = buf.readUInt32BE(index * 8);
  const lo = buf.readUInt32BE(index * 8 + 4);
  if (hi === 0 && lo === 0) return { kind: 'unallocated' };
  if (hi & HI_COMPRESSED) {
    if (hi & HI_COPIED)
      return { kind: 'invalid', reason: `compressed L2 entry ${index} has the COPIED flag` };
    const raw = (BigInt(hi) << 32n) | BigInt(lo);
    const x = BigInt(62 - (clusterBits - 8));
    const hostOffset = Number(raw & ((1n << x) - 1n));
    const extra = Number((raw >> x) & ((1n << (62n - x)) - 1n));
    return { kind: 'compressed', hostOffset, sectors: extra + 1 };
  }
  if (hi & HI_L2_RESERVED || lo & LO_RESERVED)
    return { kind: 'invalid', reason: `L2 entry ${index} has reserved bits set` };
  const hostOffset = (hi & HI_OFFSET_MASK) * TWO32 + ((lo & LO_OFFSET_MASK) >>> 0);
  const copied = (hi & HI_COPIED) !== 0;
  if (hostOffset % 2 ** clusterBits !== 0) {
    return {
      kind: 'invalid',
      reason: `L2 entry ${index} host offset 0x${hostOffset.toString(16)} is not cluster aligned`,
    };
  }
  if (lo & LO_ZERO) {
    if (!v3) return { kind: 'invalid', reason: `L2 entry ${index} has the zero flag in a version 2 image` };
    return { kind: 'zero', hostOffset, copied };
  }
  // Without an external data file, offset 0 means unallocated whatever bit 63 says (as qemu reads it).
  if (hostOffset === 0) return { kind: 'unallocated' };
  return { kind: 'normal', hostOffset, copied };
}

/** Writes a standard L2 entry. `zero` sets the reads-as-zero flag (v3 only). */
export function encodeL2Entry(
  buf: Buffer,
  index: number,
  hostOffset: number,
  copied: boolean,
  zero = false,
): void {
  buf.writeUInt32BE(
    ((Math.floor(hostOffset / TWO32) & HI_OFFSET_MASK) | (copied ? HI_COPIED : 0)) >>> 0,
    index * 8,
  );
  buf.writeUInt32BE(((hostOffset % TWO32) | (zero ? LO_ZERO : 0)) >>> 0, index * 8 + 4);
}

export function encodeCompressedL2Entry(
  buf: Buffer,
  index: number,
  clusterBits: number,
  hostOffset: number,
  sectors: number,
): void {
  const x = BigInt(62 - (clusterBits - 8));
  const raw = (1n << 62n) | (BigInt(sectors - 1) << x) | BigInt(hostOffset);
  buf.writeBigUInt64BE(raw, index * 8);
}

export function clearEntry(buf: Buffer, index: number): void {
  buf.writeUInt32BE(0, index * 8);
  buf.writeUInt32BE(0, index * 8 + 4);
}

/** The host clusters a compressed cluster's data touches, as cluster-aligned offsets. */
export function compressedClusters(
  e: { hostOffset: number; sectors: number },
  clusterSize: number,
): number[] {
  const first = e.hostOffset - (e.hostOffset % clusterSize);
  // Plain arithmetic: offsets exceed the 32 bits that JS bitwise operators work on.
  const lastByte = e.hostOffset - (e.hostOffset % 512) + e.sectors * 512 - 1;
  const last = lastByte - (lastByte % clusterSize);
  const out = [];
  for (let c = first; c <= last; c += clusterSize) out.push(c);
  return out;
}
