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
 *   Extended L2 (incompatible bit 4): 16-byte entries, the standard half (whose bit 0 must be 0)
 *                followed by a 64-bit subcluster bitmap: bits 0-31 allocated, bits 32-63 zero,
 *                one bit per subcluster of 32. Whole-cluster states classify as the standard
 *                kinds; mixed ones as 'partial'.
 */

export const SUBCLUSTERS = 32;
export const ALL_SUBCLUSTERS = 0xffffffff;

/** Sets or clears COPIED (bit 63) of L2 entry `index`, leaving the rest of the entry as it is. */
export function setL2Copied(buf: Buffer, index: number, ext: boolean, copied: boolean): void {
  const at = index * (ext ? 16 : 8);
  buf.writeUInt32BE(((buf.readUInt32BE(at) & ~HI_COPIED) | (copied ? HI_COPIED : 0)) >>> 0, at);
}

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
  /**
   * Extended L2 only: subclusters in different states. Bit i of `alloc` = subcluster i holds
   * data at hostOffset + i * subclusterSize; bit i of `zero` = it reads as zero; neither = it
   * reads from the backing file. `hostOffset` may be 0 when no subcluster is allocated.
   */
  | { kind: 'partial'; hostOffset: number; copied: boolean; alloc: number; zero: number }
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

export function decodeL2Entry(
  buf: Buffer,
  index: number,
  clusterBits: number,
  v3: boolean,
  ext = false,
): L2Entry {
  const at = index * (ext ? 16 : 8);
  const hi = buf.readUInt32BE(at);
  const lo = buf.readUInt32BE(at + 4);
  if (hi & HI_COMPRESSED) {
    if (hi & HI_COPIED)
      return { kind: 'invalid', reason: `compressed L2 entry ${index} has the COPIED flag` };
    if (ext && (buf.readUInt32BE(at + 8) || buf.readUInt32BE(at + 12))) {
      return { kind: 'invalid', reason: `compressed L2 entry ${index} has a subcluster bitmap` };
    }
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
  if (ext) {
    if (lo & LO_ZERO)
      return { kind: 'invalid', reason: `extended L2 entry ${index} uses the standard zero flag` };
    const zero = buf.readUInt32BE(at + 8);
    const alloc = buf.readUInt32BE(at + 12);
    if (alloc & zero)
      return {
        kind: 'invalid',
        reason: `extended L2 entry ${index} marks subclusters both allocated and zero`,
      };
    if (alloc && !hostOffset)
      return {
        kind: 'invalid',
        reason: `extended L2 entry ${index} allocates subclusters without a host cluster`,
      };
    if (alloc === ALL_SUBCLUSTERS) return { kind: 'normal', hostOffset, copied };
    if (zero === ALL_SUBCLUSTERS) return { kind: 'zero', hostOffset, copied };
    if (!alloc && !zero && !hostOffset) return { kind: 'unallocated' };
    return { kind: 'partial', hostOffset, copied, alloc, zero };
  }
  if (hi === 0 && lo === 0) return { kind: 'unallocated' };
  if (lo & LO_ZERO) {
    if (!v3) return { kind: 'invalid', reason: `L2 entry ${index} has the zero flag in a version 2 image` };
    return { kind: 'zero', hostOffset, copied };
  }
  // Without an external data file, offset 0 means unallocated whatever bit 63 says (as qemu reads it).
  if (hostOffset === 0) return { kind: 'unallocated' };
  return { kind: 'normal', hostOffset, copied };
}

/**
 * Writes an L2 entry for a whole-cluster state: data at `hostOffset` (or unallocated when 0), or
 * reads-as-zero when `zero` (keeping `hostOffset` as preallocation). With `ext`, the subcluster
 * bitmap says the same for all 32 subclusters.
 */
export function encodeL2Entry(
  buf: Buffer,
  index: number,
  hostOffset: number,
  copied: boolean,
  zero = false,
  ext = false,
): void {
  const at = index * (ext ? 16 : 8);
  buf.writeUInt32BE(((Math.floor(hostOffset / TWO32) & HI_OFFSET_MASK) | (copied ? HI_COPIED : 0)) >>> 0, at);
  buf.writeUInt32BE(((hostOffset % TWO32) | (zero && !ext ? LO_ZERO : 0)) >>> 0, at + 4);
  if (ext) {
    buf.writeUInt32BE(zero ? ALL_SUBCLUSTERS : 0, at + 8);
    buf.writeUInt32BE(!zero && hostOffset ? ALL_SUBCLUSTERS : 0, at + 12);
  }
}

/** Writes an extended L2 entry with explicit subcluster bitmaps. */
export function encodeExtL2Entry(
  buf: Buffer,
  index: number,
  hostOffset: number,
  copied: boolean,
  alloc: number,
  zero: number,
): void {
  const at = index * 16;
  buf.writeUInt32BE(((Math.floor(hostOffset / TWO32) & HI_OFFSET_MASK) | (copied ? HI_COPIED : 0)) >>> 0, at);
  buf.writeUInt32BE((hostOffset % TWO32) >>> 0, at + 4);
  buf.writeUInt32BE(zero >>> 0, at + 8);
  buf.writeUInt32BE(alloc >>> 0, at + 12);
}

export function encodeCompressedL2Entry(
  buf: Buffer,
  index: number,
  clusterBits: number,
  hostOffset: number,
  sectors: number,
  ext = false,
): void {
  const x = BigInt(62 - (clusterBits - 8));
  const raw = (1n << 62n) | (BigInt(sectors - 1) << x) | BigInt(hostOffset);
  const at = index * (ext ? 16 : 8);
  buf.writeBigUInt64BE(raw, at);
  if (ext) buf.writeBigUInt64BE(0n, at + 8);
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

export type SubclusterState = 'data' | 'zero' | 'backing';

/**
 * Runs of subclusters in the same state within bytes [from, to) of a cluster whose subcluster
 * bitmaps are `alloc` and `zero`, as [start, end, state] byte offsets relative to the cluster.
 */
export function subclusterRuns(
  e: { alloc: number; zero: number },
  unit: number,
  from: number,
  to: number,
): Array<[number, number, SubclusterState]> {
  const out: Array<[number, number, SubclusterState]> = [];
  for (let pos = from; pos < to;) {
    const i = Math.floor(pos / unit);
    const bit = 2 ** i;
    const state: SubclusterState =
      Math.floor(e.alloc / bit) % 2 ? 'data' : Math.floor(e.zero / bit) % 2 ? 'zero' : 'backing';
    const end = Math.min(to, (i + 1) * unit);
    const last = out[out.length - 1];
    if (last && last[2] === state && last[1] === pos) last[1] = end;
    else out.push([pos, end, state]);
    pos = end;
  }
  return out;
}
