/**
 * The qcow2 header (docs/interop/qcow2.txt, "Header"): the first bytes of cluster 0.
 *
 * Version 2 headers are exactly 72 bytes. Version 3 headers are `header_length` bytes (at least
 * 104, a multiple of 8); byte 104 is `compression_type` when present. Fields past the ones we
 * know are kept verbatim in `extraFields` so that rewriting the header preserves them.
 * 64-bit fields are converted to numbers in one checked place (util toSafeNumber).
 */
import { BlockError, toSafeNumber } from '../../util/index.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const V2_HEADER_SIZE = 72;
export const V3_MIN_HEADER_SIZE = 104;
/** The v3 header size qemu writes: through compression_type plus padding to a multiple of 8. */
export const V3_HEADER_SIZE = 112;

/** incompatible_features bits. */
export const INCOMPAT = {
  DIRTY: 1n << 0n,
  CORRUPT: 1n << 1n,
  DATA_FILE: 1n << 2n,
  COMPRESSION: 1n << 3n,
  EXTL2: 1n << 4n,
} as const;
export const INCOMPAT_NAMES: Record<number, string> = {
  0: 'dirty bit',
  1: 'corrupt bit',
  2: 'external data file',
  3: 'compression type',
  4: 'extended L2 entries',
};
/** compatible_features bits. */
export const COMPAT = { LAZY_REFCOUNTS: 1n << 0n } as const;
/** autoclear_features bits. */
export const AUTOCLEAR = { BITMAPS: 1n << 0n, DATA_FILE_RAW: 1n << 1n } as const;

export const COMPRESSION_TYPES = ['zlib', 'zstd'] as const;

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** Header bytes past compression_type's padding (offset 112 to header_length), verbatim. */
  extraFields: Buffer;
}

function u64(buf: Buffer, off: number, name: string): number {
  return toSafeNumber(buf.readBigUInt64BE(off), `qcow2 header field ${name}`);
}

/** Decodes the header from the start of cluster 0. Throws BAD_FORMAT or CORRUPT naming the field. */
export function decodeHeader(buf: Buffer): Qcow2Header {
  if (buf.length < V2_HEADER_SIZE) throw new BlockError('BAD_FORMAT', 'file too short for a qcow2 header');
  if (buf.readUInt32BE(0) !== QCOW2_MAGIC)
    throw new BlockError('BAD_FORMAT', 'not a qcow2 image (bad magic)');
  const version = buf.readUInt32BE(4);
  if (version !== 2 && version !== 3) {
    throw new BlockError('NOT_SUPPORTED', `unsupported qcow2 version ${version}`);
  }
  const h: Qcow2Header = {
    version,
    backingFileOffset: u64(buf, 8, 'backing_file_offset'),
    backingFileSize: buf.readUInt32BE(16),
    clusterBits: buf.readUInt32BE(20),
    size: u64(buf, 24, 'size'),
    cryptMethod: buf.readUInt32BE(32),
    l1Size: buf.readUInt32BE(36),
    l1TableOffset: u64(buf, 40, 'l1_table_offset'),
    refcountTableOffset: u64(buf, 48, 'refcount_table_offset'),
    refcountTableClusters: buf.readUInt32BE(56),
    nbSnapshots: buf.readUInt32BE(60),
    snapshotsOffset: u64(buf, 64, 'snapshots_offset'),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: V2_HEADER_SIZE,
    compressionType: 0,
    extraFields: Buffer.alloc(0),
  };
  if (version === 3) {
    if (buf.length < V3_MIN_HEADER_SIZE) throw new BlockError('CORRUPT', 'qcow2 v3 header is truncated');
    h.incompatibleFeatures = buf.readBigUInt64BE(72);
    h.compatibleFeatures = buf.readBigUInt64BE(80);
    h.autoclearFeatures = buf.readBigUInt64BE(88);
    h.refcountOrder = buf.readUInt32BE(96);
    h.headerLength = buf.readUInt32BE(100);
    if (h.headerLength < V3_MIN_HEADER_SIZE || h.headerLength % 8 !== 0) {
      throw new BlockError('CORRUPT', `qcow2 header_length ${h.headerLength} is invalid`);
    }
    if (h.headerLength > buf.length)
      throw new BlockError('CORRUPT', 'qcow2 header_length exceeds the first cluster');
    if (h.headerLength > 104) h.compressionType = buf[104]!;
    if (h.headerLength > V3_HEADER_SIZE)
      h.extraFields = Buffer.from(buf.subarray(V3_HEADER_SIZE, h.headerLength));
  }
  return h;
}

/** Encodes the header into `headerLength` bytes (72 for v2). */
export function encodeHeader(h: Qcow2Header): Buffer {
  const len = h.version === 2 ? V2_HEADER_SIZE : h.headerLength;
  const buf = Buffer.alloc(len);
  buf.writeUInt32BE(QCOW2_MAGIC, 0);
  buf.writeUInt32BE(h.version, 4);
  buf.writeBigUInt64BE(BigInt(h.backingFileOffset), 8);
  buf.writeUInt32BE(h.backingFileSize, 16);
  buf.writeUInt32BE(h.clusterBits, 20);
  buf.writeBigUInt64BE(BigInt(h.size), 24);
  buf.writeUInt32BE(h.cryptMethod, 32);
  buf.writeUInt32BE(h.l1Size, 36);
  buf.writeBigUInt64BE(BigInt(h.l1TableOffset), 40);
  buf.writeBigUInt64BE(BigInt(h.refcountTableOffset), 48);
  buf.writeUInt32BE(h.refcountTableClusters, 56);
  buf.writeUInt32BE(h.nbSnapshots, 60);
  buf.writeBigUInt64BE(BigInt(h.snapshotsOffset), 64);
  if (h.version === 3) {
    buf.writeBigUInt64BE(h.incompatibleFeatures, 72);
    buf.writeBigUInt64BE(h.compatibleFeatures, 80);
    buf.writeBigUInt64BE(h.autoclearFeatures, 88);
    buf.writeUInt32BE(h.refcountOrder, 96);
    buf.writeUInt32BE(len, 100);
    if (len > 104) buf[104] = h.compressionType;
    if (len > V3_HEADER_SIZE) h.extraFields.copy(buf, V3_HEADER_SIZE, 0, len - V3_HEADER_SIZE);
  }
  return buf;
}

/** Names the set bits of a feature mask that are not in `known`, e.g. "bit 5, bit 9". */
export function unknownBits(mask: bigint, known: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 64; i++) {
    const b = 1n << BigInt(i);
    if (mask & b && !(known & b)) out.push(i);
  }
  return out;
}
