/**
 * Stream-optimized markers (Virtual Disk Format 1.1, "Stream-Optimized Compressed Sparse
 * Extents"). Every structure after the header of a stream-optimized extent starts on a sector
 * boundary with a marker, little-endian:
 *
 *   Grain marker:     lba uint64 (first sector of the grain), size uint32 (> 0: bytes of
 *                     compressed data that follow immediately), data; padded to a sector.
 *   Metadata marker:  numSectors uint64 (sectors of metadata after this marker sector),
 *                     size uint32 = 0, type uint32, pad[496]; exactly one sector.
 *                     type 0 MARKER_EOS (numSectors 0: an all-zero sector), 1 MARKER_GT,
 *                     2 MARKER_GD, 3 MARKER_FOOTER.
 *
 * The compressed data is a zlib (RFC 1950) stream of the grain's bytes, as VMware and qemu-img
 * write it.
 */
import { BlockError } from '../../util/index.js';
import { SECTOR } from './sparse-header.js';

/** Bytes of a grain marker before its compressed data. */
export const GRAIN_MARKER_HEADER = 12;
export const MARKER_SIZE = SECTOR;

export const MARKER_TYPES = { eos: 0, gt: 1, gd: 2, footer: 3 } as const;
export type MetadataMarkerKind = keyof typeof MARKER_TYPES;

export type Marker =
  | { kind: 'grain'; lba: number; size: number }
  | { kind: MetadataMarkerKind; sectors: number }
  | { kind: 'invalid'; reason: string };

const KIND_OF: Record<number, MetadataMarkerKind> = Object.fromEntries(
  Object.entries(MARKER_TYPES).map(([k, v]) => [v, k as MetadataMarkerKind]),
);

/** Decodes the marker at the start of `buf` (at least 16 bytes). */
export function decodeMarker(buf: Buffer): Marker {
  if (buf.length < 16) throw new BlockError('CORRUPT', 'VMDK marker is truncated');
  const val = buf.readBigUInt64LE(0);
  const size = buf.readUInt32LE(8);
  if (val > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { kind: 'invalid', reason: `marker value ${val} is out of range` };
  }
  if (size > 0) return { kind: 'grain', lba: Number(val), size };
  const type = buf.readUInt32LE(12);
  const kind = KIND_OF[type];
  if (!kind) return { kind: 'invalid', reason: `unknown marker type ${type}` };
  return { kind, sectors: Number(val) };
}

/** Encodes a grain marker with its data, zero-padded to whole sectors. */
export function encodeGrainMarker(lba: number, compressed: Buffer): Buffer {
  if (compressed.length === 0) throw new BlockError('INVALID', 'a grain marker needs compressed data');
  const total = Math.ceil((GRAIN_MARKER_HEADER + compressed.length) / SECTOR) * SECTOR;
  const buf = Buffer.alloc(total);
  buf.writeBigUInt64LE(BigInt(lba), 0);
  buf.writeUInt32LE(compressed.length, 8);
  compressed.copy(buf, GRAIN_MARKER_HEADER);
  return buf;
}

/** Encodes a metadata marker sector announcing `sectors` sectors of metadata after it. */
export function encodeMetadataMarker(kind: MetadataMarkerKind, sectors: number): Buffer {
  const buf = Buffer.alloc(MARKER_SIZE);
  buf.writeBigUInt64LE(BigInt(sectors), 0);
  buf.writeUInt32LE(0, 8);
  buf.writeUInt32LE(MARKER_TYPES[kind], 12);
  return buf;
}
