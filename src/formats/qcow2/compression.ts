/**
 * Compressed cluster payloads (docs/interop/qcow2.txt, "Compressed Clusters Descriptor" and the
 * compression_type header field).
 *
 * - zlib (type 0): a raw deflate stream. qemu writes it with a 4 KiB window (windowBits 12), so we
 *   compress the same way; any window inflates.
 * - zstd (type 1): one zstd frame. A compressed cluster's last sector is shared with whatever is
 *   stored after it, so the frame's exact length is found by walking its block headers (RFC 8878,
 *   section 3.1.1) and only that many bytes are handed to the decoder.
 *
 * Decompression must produce exactly one cluster; anything else is corruption.
 */
import { createRequire } from 'node:module';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { BlockError } from '../../util/index.js';

export type CompressionType = 0 | 1;

const ZSTD_MAGIC = 0xfd2fb528;

interface Zstd {
  compress(data: Buffer): Buffer;
  decompress(data: Buffer): Buffer;
}
let zstdModule: Zstd | undefined;

/**
 * zstd-napi, loaded the first time a zstd cluster is met: its native binding and six modules
 * are read from disk at load, and most images (and every qemu-img default) use zlib.
 */
function zstd(): Zstd {
  return (zstdModule ??= createRequire(import.meta.url)('zstd-napi') as Zstd);
}

/** Compresses one cluster. */
export function compressCluster(data: Buffer, type: CompressionType): Buffer {
  if (type === 0) return deflateRawSync(data, { windowBits: 12, level: constants.Z_DEFAULT_COMPRESSION });
  return zstd().compress(data);
}

/** Decompresses one cluster of `clusterSize` bytes from `raw` (which may carry trailing bytes). */
export function decompressCluster(raw: Buffer, type: CompressionType, clusterSize: number): Buffer {
  let out: Buffer;
  try {
    if (type === 0) {
      out = inflateRawSync(raw, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: clusterSize });
    } else {
      out = zstd().decompress(raw.subarray(0, zstdFrameLength(raw)));
    }
  } catch (err) {
    if (err instanceof BlockError) throw err;
    const why =
      (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
        ? 'inflates past the cluster size'
        : (err as Error).message;
    throw new BlockError('CORRUPT', `compressed cluster cannot be decompressed: ${why}`);
  }
  if (out.length !== clusterSize) {
    throw new BlockError(
      'CORRUPT',
      `compressed cluster decompresses to ${out.length} bytes, not ${clusterSize}`,
    );
  }
  return out;
}

/** The length of the zstd frame at the start of `buf`, from its header and block headers. */
export function zstdFrameLength(buf: Buffer): number {
  const bad = (why: string): never => {
    throw new BlockError('CORRUPT', `compressed cluster is not a valid zstd frame: ${why}`);
  };
  if (buf.length < 6 || buf.readUInt32LE(0) !== ZSTD_MAGIC) bad('bad magic');
  const fhd = buf[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const didFlag = fhd & 3;
  const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  const didSize = [0, 1, 2, 4][didFlag]!;
  let off = 5 + (singleSegment ? 0 : 1) + didSize + fcsSize;
  for (;;) {
    if (off + 3 > buf.length) bad('truncated block header');
    const h = buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16);
    const last = h & 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    if (type === 3) bad('reserved block type');
    off += 3 + (type === 1 ? 1 : size);
    if (off > buf.length) bad('truncated block');
    if (last) break;
  }
  off += checksum ? 4 : 0;
  if (off > buf.length) bad('truncated checksum');
  return off;
}
