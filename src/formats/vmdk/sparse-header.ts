/**
 * The hosted sparse extent header (VMware "Virtual Disk Format 1.1", "Hosted Sparse Extent
 * Header"; "VMDK 5.0" for version 2 and the zeroed-grain flag). One 512-byte sector at the start
 * of every sparse extent, little-endian, packed:
 *
 *   0  magicNumber        uint32  'KDMV' (0x564d444b)
 *   4  version            uint32  1; 2 = zeroed-grain GTEs allowed; 3 = stream-optimized / CBT
 *   8  flags              uint32  bit 0 newline detection valid, bit 1 redundant grain table,
 *                                 bit 2 zeroed-grain GTEs, bit 16 compressed grains,
 *                                 bit 17 metadata markers
 *   12 capacity           uint64  extent size in sectors
 *   20 grainSize          uint64  sectors per grain
 *   28 descriptorOffset   uint64  sector of the embedded descriptor (0: none)
 *   36 descriptorSize     uint64  sectors
 *   44 numGTEsPerGT       uint32  grain table entries per grain table (512)
 *   48 rgdOffset          uint64  sector of the redundant grain directory
 *   56 gdOffset           uint64  sector of the grain directory; GD_AT_END in a stream-optimized
 *                                 header whose footer holds the real value
 *   64 overHead           uint64  sectors of metadata before the first grain
 *   72 uncleanShutdown    uint8
 *   73 singleEndLineChar  '\n', nonEndLineChar ' ', doubleEndLineChar1 '\r', doubleEndLineChar2 '\n'
 *   77 compressAlgorithm  uint16  0 none, 1 deflate
 *   79 pad[433]                   kept verbatim so that a rewritten header preserves it
 *
 * The codec only converts bytes; what the values must satisfy is checked where the extent is
 * opened (sparse-open.ts). 64-bit fields are converted to numbers here, in one checked place.
 */
import { BlockError, toSafeNumber } from '../../util/index.js';

export const SECTOR = 512;
export const SPARSE_HEADER_SIZE = 512;
/** 'KDMV' as it appears in the first four bytes of the file. */
export const SPARSE_MAGIC = Buffer.from('KDMV', 'latin1');
/** The gdOffset of a stream-optimized header whose grain directory follows the grains. */
export const GD_AT_END = 0xffffffffffffffffn;

export const FLAGS = {
  NL_DETECT: 1 << 0,
  REDUNDANT_GT: 1 << 1,
  ZERO_GRAIN: 1 << 2,
  COMPRESSED: 1 << 16,
  MARKERS: 1 << 17,
} as const;

export const COMPRESS_NONE = 0;
export const COMPRESS_DEFLATE = 1;
/** The four newline-detection bytes: a text-mode transfer would alter them. */
export const CHECK_BYTES = Buffer.from([0x0a, 0x20, 0x0d, 0x0a]);

export interface SparseHeader {
  version: number;
  flags: number;
  capacity: number;
  grainSize: number;
  descriptorOffset: number;
  descriptorSize: number;
  numGTEsPerGT: number;
  rgdOffset: number;
  /** Grain directory sector; meaningless when `gdAtEnd`. */
  gdOffset: number;
  /** gdOffset is GD_AT_END: the footer near the end of the file holds the real header. */
  gdAtEnd: boolean;
  overHead: number;
  uncleanShutdown: number;
  checkBytes: Buffer;
  compressAlgorithm: number;
  /** Bytes 79..511, verbatim. */
  pad: Buffer;
}

function u64(buf: Buffer, off: number, name: string): number {
  return toSafeNumber(buf.readBigUInt64LE(off), `VMDK sparse header field ${name}`);
}

/** Decodes one header sector. Throws BAD_FORMAT for a short buffer or a wrong magic. */
export function decodeSparseHeader(buf: Buffer): SparseHeader {
  if (buf.length < SPARSE_HEADER_SIZE) {
    throw new BlockError(
      'BAD_FORMAT',
      `file too short for a VMDK sparse extent header (${buf.length} bytes)`,
    );
  }
  if (!buf.subarray(0, 4).equals(SPARSE_MAGIC)) {
    throw new BlockError('BAD_FORMAT', "not a VMDK sparse extent (bad magic, expected 'KDMV')");
  }
  const gdRaw = buf.readBigUInt64LE(56);
  const gdAtEnd = gdRaw === GD_AT_END;
  return {
    version: buf.readUInt32LE(4),
    flags: buf.readUInt32LE(8),
    capacity: u64(buf, 12, 'capacity'),
    grainSize: u64(buf, 20, 'grainSize'),
    descriptorOffset: u64(buf, 28, 'descriptorOffset'),
    descriptorSize: u64(buf, 36, 'descriptorSize'),
    numGTEsPerGT: buf.readUInt32LE(44),
    rgdOffset: u64(buf, 48, 'rgdOffset'),
    gdOffset: gdAtEnd ? 0 : toSafeNumber(gdRaw, 'VMDK sparse header field gdOffset'),
    gdAtEnd,
    overHead: u64(buf, 64, 'overHead'),
    uncleanShutdown: buf[72]!,
    checkBytes: Buffer.from(buf.subarray(73, 77)),
    compressAlgorithm: buf.readUInt16LE(77),
    pad: Buffer.from(buf.subarray(79, SPARSE_HEADER_SIZE)),
  };
}

/** Encodes a header into one 512-byte sector. */
export function encodeSparseHeader(h: SparseHeader): Buffer {
  const buf = Buffer.alloc(SPARSE_HEADER_SIZE);
  SPARSE_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(h.version, 4);
  buf.writeUInt32LE(h.flags >>> 0, 8);
  buf.writeBigUInt64LE(BigInt(h.capacity), 12);
  buf.writeBigUInt64LE(BigInt(h.grainSize), 20);
  buf.writeBigUInt64LE(BigInt(h.descriptorOffset), 28);
  buf.writeBigUInt64LE(BigInt(h.descriptorSize), 36);
  buf.writeUInt32LE(h.numGTEsPerGT, 44);
  buf.writeBigUInt64LE(BigInt(h.rgdOffset), 48);
  buf.writeBigUInt64LE(h.gdAtEnd ? GD_AT_END : BigInt(h.gdOffset), 56);
  buf.writeBigUInt64LE(BigInt(h.overHead), 64);
  buf[72] = h.uncleanShutdown;
  h.checkBytes.copy(buf, 73, 0, 4);
  buf.writeUInt16LE(h.compressAlgorithm, 77);
  h.pad.copy(buf, 79, 0, SPARSE_HEADER_SIZE - 79);
  return buf;
}

/** A header with the defaults qemu-img and VMware use; callers fill in the layout. */
export function newSparseHeader(fields: Partial<SparseHeader> & { capacity: number }): SparseHeader {
  return {
    version: 1,
    flags: FLAGS.NL_DETECT,
    grainSize: 128,
    descriptorOffset: 0,
    descriptorSize: 0,
    numGTEsPerGT: 512,
    rgdOffset: 0,
    gdOffset: 0,
    gdAtEnd: false,
    overHead: 0,
    uncleanShutdown: 0,
    checkBytes: Buffer.from(CHECK_BYTES),
    compressAlgorithm: COMPRESS_NONE,
    pad: Buffer.alloc(SPARSE_HEADER_SIZE - 79),
    ...fields,
  };
}
